// The setsockopt surface of a connection (SocketOptions, as the preload
// library reads it back from the kernel shadow socket): TCP_CORK, a
// congestion-control switch on a live connection, TCP_USER_TIMEOUT expiry,
// SO_RCVBUF bounding the advertised window (scale fixed at SYN time),
// SO_SNDBUF bounding the send queue, keepalive, and a listener's options
// inherited by its connections. The test plays the peer on a virtual clock.
#include <catch2/catch.hpp>
#include <cerrno>
#include <vector>

#include "scripted_peer.h"
#include "tcp/tcp_connection.h"

namespace xlane::tcp {
namespace {

using namespace std::chrono_literals;
using test::kA;
using test::kB;
using test::ScriptedPeer;

SocketOptions defaults() {
    SocketOptions o;
    o.congestion = CongestionAlgorithm::kCubic;
    return o;
}

// The options of a SYN-ACK offering window scaling.
TcpOptions window_scale(uint8_t shift) {
    TcpOptions o;
    o.window_scale = shift;
    return o;
}

size_t payload_bytes(const std::vector<OutSegment>& segments) {
    size_t n = 0;
    for (const auto& s : segments) n += s.payload.size();
    return n;
}

}  // namespace

TEST_CASE("options: TCP_CORK through set_options holds partial segments", "[tcp][options]") {
    ScriptedPeer t;
    t.establish_active();
    SocketOptions o = defaults();
    o.cork = true;
    t.conn->set_options(o, t.now);
    t.conn->send(std::vector<uint8_t>(100, 1), t.now);
    t.conn->send(std::vector<uint8_t>(100, 1), t.now);
    CHECK(t.out().empty());
    t.conn->send(std::vector<uint8_t>(1460, 1), t.now);  // a full MSS leaves
    auto full = t.out();
    REQUIRE(full.size() == 1);
    CHECK(full[0].payload.size() == 1460);
    o.cork = false;
    t.conn->set_options(o, t.now);  // uncorking pushes the rest
    auto rest = t.out();
    REQUIRE(rest.size() == 1);
    CHECK(rest[0].payload.size() == 200);
}

TEST_CASE("options: TCP_CORK set before connect holds data from the start", "[tcp][options]") {
    ScriptedPeer t;
    SocketOptions o = defaults();
    o.cork = true;
    apply_options(t.config, o);
    t.establish_active();
    t.conn->send(std::vector<uint8_t>(300, 1), t.now);
    CHECK(t.out().empty());
    CHECK(t.conn->next_deadline() == t.now + t.config.cork_ceiling);
}

TEST_CASE("options: switching congestion control keeps the window, changes the arithmetic",
          "[tcp][options][congestion]") {
    ScriptedPeer t;
    t.establish_active();
    REQUIRE(t.conn->info(t.now).congestion == CongestionAlgorithm::kCubic);
    const uint32_t cwnd = t.conn->info(t.now).snd_cwnd;
    SocketOptions o = defaults();
    o.congestion = CongestionAlgorithm::kNewReno;
    t.conn->set_options(o, t.now);
    TcpInfo info = t.conn->info(t.now);
    CHECK(info.congestion == CongestionAlgorithm::kNewReno);
    CHECK(info.snd_cwnd == cwnd);
    CHECK(t.conn->config().congestion == CongestionAlgorithm::kNewReno);

    // Ten segments out, three duplicate ACKs: NewReno halves the flight
    // (ssthresh 5 segments) where CUBIC would keep 70% (7).
    t.conn->send(std::vector<uint8_t>(10 * 1460, 1), t.now);
    REQUIRE(payload_bytes(t.out()) == 10 * 1460);
    for (int i = 0; i < 3; ++i) t.deliver_next(flags::kAck, t.iss + 1);
    info = t.conn->info(t.now);
    CHECK(info.ca_state == 3);
    CHECK(info.snd_ssthresh == 5);

    // An unknown algorithm (nullopt: one Linux has, e.g. bbr) changes nothing.
    o.congestion = std::nullopt;
    t.conn->set_options(o, t.now);
    CHECK(t.conn->info(t.now).congestion == CongestionAlgorithm::kNewReno);
    o.congestion = CongestionAlgorithm::kCubic;
    t.conn->set_options(o, t.now);
    CHECK(t.conn->info(t.now).congestion == CongestionAlgorithm::kCubic);
    CHECK(t.conn->info(t.now).snd_ssthresh == 5);  // carried over
}

TEST_CASE("options: TCP_USER_TIMEOUT gives ETIMEDOUT when it runs out, not RTOs later",
          "[tcp][options][timeout]") {
    ScriptedPeer t;
    t.establish_active();
    SocketOptions o = defaults();
    o.user_timeout = 2500ms;
    t.conn->set_options(o, t.now);
    const Instant start = t.now;
    t.conn->send(std::vector<uint8_t>(100, 1), t.now);
    REQUIRE(t.out().size() == 1);
    int rounds = 0;
    while (t.conn->state() != TcpState::kClosed && rounds++ < 100) {
        t.now = t.conn->next_deadline();
        REQUIRE(t.now != kNever);
        t.conn->on_timer(t.now);
        t.out();
    }
    CHECK(t.conn->state() == TcpState::kClosed);
    CHECK(t.conn->error() == ETIMEDOUT);
    // Backed-off RTOs (200 ms doubling) would first pass 2.5 s at 3 s.
    CHECK(t.now - start >= 2500ms);
    CHECK(t.now - start <= 2500ms + 1ms);
}

TEST_CASE("options: acknowledged progress restarts the user timeout", "[tcp][options][timeout]") {
    ScriptedPeer t;
    t.establish_active();
    SocketOptions o = defaults();
    o.user_timeout = 2500ms;
    t.conn->set_options(o, t.now);
    t.conn->send(std::vector<uint8_t>(100, 1), t.now);
    t.out();
    t.now += 2s;
    t.deliver_next(flags::kAck, t.iss + 101);  // acknowledged
    t.conn->send(std::vector<uint8_t>(100, 1), t.now);
    t.out();
    const Instant second = t.now;
    while (t.conn->state() != TcpState::kClosed && t.now - second < 60s) {
        t.now = t.conn->next_deadline();
        t.conn->on_timer(t.now);
        t.out();
    }
    CHECK(t.conn->error() == ETIMEDOUT);
    // The 2 s RTT sample makes the RTO 6 s: the user timeout comes first.
    CHECK(t.now - second >= 2500ms);
    CHECK(t.now - second <= 2500ms + 1ms);
}

TEST_CASE("options: SO_RCVBUF before connect bounds the window and picks the scale",
          "[tcp][options][buffers]") {
    ScriptedPeer t;
    t.config.window_scaling = true;
    SocketOptions o = defaults();
    o.receive_buffer = 8192;  // setsockopt(4096) as Linux reads it back
    apply_options(t.config, o);
    CHECK(t.config.receive_buffer == 4096);
    const OutSegment syn = t.establish_active(window_scale(7));
    CHECK(syn.header.window == 4096);
    REQUIRE(syn.options.window_scale.has_value());
    CHECK(*syn.options.window_scale == 0);  // 4 KiB needs no scaling
    // The peer fills the window; nothing is read: the window closes.
    t.deliver_next(flags::kAck | flags::kPsh, t.iss + 1, std::vector<uint8_t>(4096, 3));
    auto acks = t.out();
    REQUIRE_FALSE(acks.empty());
    CHECK(acks.back().header.window == 0);
    CHECK(t.conn->info(t.now).rcv_space == 0);
    // Beyond the window is not accepted.
    t.deliver_next(flags::kAck | flags::kPsh, t.iss + 1, std::vector<uint8_t>(1000, 3));
    CHECK(t.conn->readable_bytes() == 4096);
    t.peer_nxt -= 1000;  // not taken: the peer sends it again later

    // A larger SO_RCVBUF later grows the window only as far as the scale
    // chosen at SYN time can say (65535 << 0).
    std::vector<uint8_t> sink(4096);
    CHECK(t.conn->recv(sink, t.now).bytes == 4096);
    o.receive_buffer = 2 * 1024 * 1024;
    t.conn->set_options(o, t.now);
    t.out();
    t.deliver_next(flags::kAck | flags::kPsh, t.iss + 1, std::vector<uint8_t>(100, 3));
    auto later = t.out();
    REQUIRE_FALSE(later.empty());
    CHECK(later.back().header.window == 65535);
    CHECK(t.conn->info(t.now).rcv_space == 1024 * 1024 - 100);
}

TEST_CASE("options: a smaller SO_RCVBUF on a live connection shrinks the window it advertises",
          "[tcp][options][buffers]") {
    ScriptedPeer t;
    t.config.window_scaling = true;
    t.establish_active(window_scale(7));  // 256 KiB default: scale 3
    SocketOptions o = defaults();
    o.receive_buffer = 2 * 16384;
    t.conn->set_options(o, t.now);
    std::vector<uint8_t> sink(65536);
    size_t received = 0;
    uint32_t checked = 0;
    // Data read as it comes: the advertised right edge never moves left, so
    // the 256 KiB promised before stands; once it is used up, the new bound
    // (16 KiB, plus less than one scale unit of rounding) holds.
    for (int i = 0; i < 200; ++i) {
        t.deliver_next(flags::kAck | flags::kPsh, t.iss + 1, std::vector<uint8_t>(1460, 3));
        received += t.conn->recv(sink, t.now).bytes;
        for (const auto& s : t.out()) {
            const uint32_t window = uint32_t{s.header.window} << 3;
            if (i < 100) CHECK(window > 100000);
            if (i > 185) {
                CHECK(window <= 16384 + 8);
                ++checked;
            }
        }
    }
    CHECK(checked > 0);
    CHECK(received == 200 * 1460);
    CHECK(t.conn->info(t.now).rcv_space <= 16384);
}

TEST_CASE("options: SO_SNDBUF bounds the bytes queued", "[tcp][options][buffers]") {
    ScriptedPeer t;
    t.establish_active();
    SocketOptions o = defaults();
    o.send_buffer = 10000;  // the effective (doubled) value
    t.conn->set_options(o, t.now);
    const std::vector<uint8_t> data(50000, 9);
    IoResult r = t.conn->send(data, t.now);
    CHECK(r.bytes == 10000);
    CHECK(t.conn->send(data, t.now).error == EAGAIN);
    CHECK_FALSE(t.conn->writable());
    CHECK(t.conn->send_queue_bytes() == 10000);
    // Growing it makes room at once.
    (void)t.conn->take_events();
    o.send_buffer = 40000;
    t.conn->set_options(o, t.now);
    CHECK(t.conn->writable());
    CHECK((t.conn->take_events() & event::kWritable) != 0);
    CHECK(t.conn->send(data, t.now).bytes == 30000);
}

TEST_CASE("options: keepalive settings apply, and only changes restart the timer",
          "[tcp][options][keepalive]") {
    ScriptedPeer t;
    t.establish_active();
    CHECK(t.conn->next_deadline() == kNever);
    SocketOptions o = defaults();
    o.keepalive = {.enabled = true, .idle = 1s, .interval = 1s, .probes = 2};
    t.conn->set_options(o, t.now);
    const Instant first = t.conn->next_deadline();
    CHECK(first == t.now + 1s);
    t.now += 500ms;
    o.nodelay = true;  // another option: the keepalive timer keeps its deadline
    t.conn->set_options(o, t.now);
    CHECK(t.conn->next_deadline() == first);
    // Unanswered: idle + probes * interval, then ETIMEDOUT.
    const Instant start = first - 1s;
    while (t.conn->state() != TcpState::kClosed && t.now - start < 60s) {
        t.now = t.conn->next_deadline();
        t.conn->on_timer(t.now);
        t.out();
    }
    CHECK(t.conn->error() == ETIMEDOUT);
    CHECK(t.now - start == 3s);
    CHECK(t.conn->info(t.now).keepalive_probes == 2);
}

TEST_CASE("options: a listener's options are inherited by its connections",
          "[tcp][options][listener]") {
    TcpConfig config;
    config.timestamps = false;
    TcpListener listener(config, {kA, 80}, 8);
    SocketOptions o = defaults();
    o.nodelay = true;
    o.congestion = CongestionAlgorithm::kNewReno;
    o.keepalive = {.enabled = true, .idle = 5s, .interval = 2s, .probes = 4};
    o.user_timeout = 7s;
    o.receive_buffer = 8192;
    listener.set_options(o);
    Segment syn;
    syn.header = {40000, 80, 5000, 0, flags::kSyn, 65535, 0};
    syn.options.mss = 1460;
    auto conn = listener.on_segment(syn, kB, kA, Instant{10s});
    REQUIRE(conn);
    const TcpConfig& inherited = conn->config();
    CHECK(inherited.nodelay);
    CHECK(inherited.keepalive.enabled);
    CHECK(inherited.keepalive.idle == 5s);
    CHECK(inherited.keepalive.probes == 4);
    CHECK(inherited.user_timeout == 7s);
    CHECK(inherited.receive_buffer == 4096);
    CHECK(conn->info(Instant{10s}).congestion == CongestionAlgorithm::kNewReno);
    auto synack = conn->pop_output();
    REQUIRE(synack);
    CHECK(synack->header.window == 4096);
}

TEST_CASE("options: TCP_MAXSEG before connect bounds the MSS announced and the segments sent",
          "[tcp][options][mss]") {
    ScriptedPeer t;
    SocketOptions o = defaults();
    o.user_mss = 1000;
    apply_options(t.config, o);
    // The SYN announces 1000; the peer's 1460 leaves 1000 (timestamps not offered here).
    const OutSegment syn = t.establish_active();
    CHECK(syn.options.mss == 1000);
    CHECK(t.conn->effective_mss() == 1000);
    const std::vector<uint8_t> data(5000, 1);
    REQUIRE(t.conn->send(data, t.now).bytes == 5000);
    for (const OutSegment& s : t.out()) CHECK(s.payload.size() <= 1000);
    // Set on a live connection it changes nothing (Linux's user_mss counts at the SYN).
    o.user_mss = 500;
    t.conn->set_options(o, t.now);
    CHECK(t.conn->effective_mss() == 1000);
}

TEST_CASE("options: in SYN-SENT the MSS reads as Linux's mss_cache, 536 or TCP_MAXSEG bounding it",
          "[tcp][options][mss]") {
    // Linux clamps the route's MSS with mss_clamp, 536 or TCP_MAXSEG, until
    // the SYN-ACK's MSS option comes, and reads it without the timestamp
    // option (tcp_options_client.py compares the kernel's figures).
    const struct {
        uint32_t user_mss;
        bool timestamps;
        uint32_t expected;
    } cases[] = {{0, true, 524}, {0, false, 536}, {1000, true, 988}, {2000, true, 1448}};
    for (const auto& c : cases) {
        ScriptedPeer t;
        t.config.timestamps = c.timestamps;
        SocketOptions o = defaults();
        o.user_mss = c.user_mss;
        apply_options(t.config, o);
        t.conn = TcpConnection::connect(t.config, t.tuple, t.now);
        REQUIRE(t.conn->state() == TcpState::kSynSent);
        CHECK(t.conn->info(t.now).snd_mss == c.expected);
        // rcv_mss: Linux's first guess, made before the window: TCP_MIN_MSS.
        CHECK(t.conn->info(t.now).rcv_mss == 88);
        CHECK(t.conn->info(t.now).advmss == std::min<uint32_t>(1460, c.user_mss != 0 ? c.user_mss : 1460));
        // The SYN still announces the route's MSS (or TCP_MAXSEG).
        const auto syn = t.out();
        REQUIRE(syn.size() == 1);
        CHECK(syn[0].options.mss == std::min<uint32_t>(1460, c.user_mss != 0 ? c.user_mss : 1460));
    }
}

TEST_CASE("options: TCP_NOTSENT_LOWAT bounds the unsent bytes send() takes and writability",
          "[tcp][options][lowat]") {
    ScriptedPeer t;
    t.establish_active({}, 2920);  // the peer's window: two segments in flight
    SocketOptions o = defaults();
    o.notsent_lowat = 10000;
    t.conn->set_options(o, t.now);
    // An ACK of everything sent that keeps the window at two segments.
    auto ack_all = [&] { t.deliver(flags::kAck, t.peer_nxt, t.conn_nxt(), {}, {}, 2920); };
    const std::vector<uint8_t> data(100000, 7);
    // 2920 leave at once and the unsent bytes stop at the first whole
    // segment (1460) past the mark, 10220: the rest is refused.
    CHECK(t.conn->send(data, t.now).bytes == 13140);
    t.track(t.out());
    CHECK(t.conn->unsent_bytes() == 10220);
    CHECK(t.conn->send(data, t.now).error == EAGAIN);
    CHECK_FALSE(t.conn->writable());
    // Two more segments leave: 7300 unsent is not below half the mark, yet
    // send() may queue up to it again.
    ack_all();
    t.track(t.out());
    CHECK(t.conn->unsent_bytes() == 7300);
    CHECK_FALSE(t.conn->writable());
    CHECK(t.conn->send(data, t.now).bytes == 2920);
    // Four more leave: 4380 unsent, below half the mark, writable.
    ack_all();
    t.track(t.out());
    ack_all();
    t.track(t.out());
    CHECK(t.conn->unsent_bytes() == 4380);
    CHECK(t.conn->writable());
    CHECK(t.conn->send(data, t.now).bytes == 5840);
    CHECK_FALSE(t.conn->writable());
    // Lifting the mark on a live connection makes it writable at once.
    (void)t.conn->take_events();
    o.notsent_lowat = UINT32_MAX;
    t.conn->set_options(o, t.now);
    CHECK(t.conn->writable());
    CHECK((t.conn->take_events() & event::kWritable) != 0);
}

}  // namespace xlane::tcp
