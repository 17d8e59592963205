// Whole-connection scenarios between two TcpConnections over the simulated
// link: simultaneous open and close, half-close, refused connections,
// retransmission and user timeouts, zero window, keepalive.
#include <catch2/catch.hpp>
#include <cerrno>

#include "tcp_sim.h"

namespace xlane::tcp::test {
namespace {

using namespace std::chrono_literals;

constexpr FaultRates kClean{};
FaultRates cut() {
    FaultRates rates;
    rates.drop = 1.0;
    return rates;
}

struct Pair {
    SimNetwork net{kClean, kClean, 42};
    std::shared_ptr<TcpConnection> client, server;

    explicit Pair(TcpConfig config = {}) {
        config.time_wait = 1s;
        TcpListener& listener = net.listen(net.b(), 80, config);
        client = net.connect(net.a(), 40000, net.b(), 80, config);
        REQUIRE(net.run_until(
            [&] {
                if (!server) server = listener.accept();
                return server && client->state() == TcpState::kEstablished;
            },
            10s));
    }
};

std::vector<uint8_t> read_all(TcpConnection& conn, Instant now, bool* eof = nullptr) {
    std::vector<uint8_t> out;
    uint8_t buffer[4096];
    for (;;) {
        const IoResult r = conn.recv(buffer, now);
        if (r.error != 0) break;
        if (r.bytes == 0) {
            if (eof) *eof = true;
            break;
        }
        out.insert(out.end(), buffer, buffer + r.bytes);
    }
    return out;
}

}  // namespace

TEST_CASE("simultaneous open between two connect() calls", "[tcp][scenario]") {
    SimNetwork net(kClean, kClean, 7);
    net.keep_trace = true;
    TcpConfig config;
    auto a = net.connect(net.a(), 5000, net.b(), 6000, config);
    auto b = net.connect(net.b(), 6000, net.a(), 5000, config);
    REQUIRE(net.run_until(
        [&] {
            return a->state() == TcpState::kEstablished && b->state() == TcpState::kEstablished;
        },
        10s));
    // Both SYNs crossed: each side sent a bare SYN first, no RST anywhere.
    CHECK(net.trace.at(0).header.flags == flags::kSyn);
    CHECK(net.trace.at(1).header.flags == flags::kSyn);
    for (const auto& t : net.trace) CHECK((t.header.flags & flags::kRst) == 0);
    const std::vector<uint8_t> hello = {'h', 'i'};
    a->send(hello, net.now());
    std::vector<uint8_t> got;
    REQUIRE(net.run_until(
        [&] {
            auto chunk = read_all(*b, net.now());
            got.insert(got.end(), chunk.begin(), chunk.end());
            return got.size() == 2;
        },
        10s));
    CHECK(got == hello);
}

TEST_CASE("simultaneous close goes through CLOSING on both sides", "[tcp][scenario]") {
    Pair p;
    p.net.keep_trace = true;
    p.client->close(p.net.now());
    p.server->close(p.net.now());
    bool saw_closing_a = false, saw_closing_b = false;
    REQUIRE(p.net.run_until(
        [&] {
            saw_closing_a |= p.client->state() == TcpState::kClosing;
            saw_closing_b |= p.server->state() == TcpState::kClosing;
            return p.client->state() == TcpState::kTimeWait &&
                   p.server->state() == TcpState::kTimeWait;
        },
        10s));
    CHECK(saw_closing_a);
    CHECK(saw_closing_b);
    REQUIRE(p.net.run_until(
        [&] {
            return p.client->state() == TcpState::kClosed && p.server->state() == TcpState::kClosed;
        },
        10s));
    CHECK(p.client->error() == 0);
    CHECK(p.server->error() == 0);
}

TEST_CASE("half-close: the other direction keeps flowing", "[tcp][scenario]") {
    Pair p;
    p.client->shutdown(false, true, p.net.now());
    bool server_eof = false;
    REQUIRE(p.net.run_until(
        [&] {
            read_all(*p.server, p.net.now(), &server_eof);
            return server_eof && p.client->state() == TcpState::kFinWait2;
        },
        10s));
    CHECK(p.client->state() == TcpState::kFinWait2);
    CHECK(p.server->state() == TcpState::kCloseWait);
    CHECK(p.client->send(std::vector<uint8_t>{1}, p.net.now()).error == EPIPE);
    StreamPump down;
    down.sender = p.server;
    down.receiver = p.client;
    down.total = 200000;
    REQUIRE(p.net.run_until([&] { return down.pump(p.net.now()); }, 60s));
    CHECK(down.received == 200000);
    CHECK(down.received_hash.value == down.sent_hash.value);
    p.server->close(p.net.now());
    p.client->close(p.net.now());
    REQUIRE(p.net.run_until(
        [&] {
            return p.client->state() == TcpState::kClosed && p.server->state() == TcpState::kClosed;
        },
        10s));
    CHECK(p.client->error() == 0);
}

TEST_CASE("SYN to a closed port is refused", "[tcp][scenario][rst]") {
    SimNetwork net(kClean, kClean, 3);
    auto client = net.connect(net.a(), 40000, net.b(), 81, TcpConfig{});
    REQUIRE(net.run_until([&] { return client->state() == TcpState::kClosed; }, 10s));
    CHECK(client->error() == ECONNREFUSED);
    CHECK(net.b().resets_sent == 1);
    CHECK(net.now() < Instant(2s));  // at once, not after retries
}

TEST_CASE("unanswered SYNs time out with ETIMEDOUT after the retries", "[tcp][scenario]") {
    SimNetwork net(cut(), kClean, 3);
    const Instant start = net.now();
    auto client = net.connect(net.a(), 40000, net.b(), 80, TcpConfig{});
    REQUIRE(net.run_until([&] { return client->state() == TcpState::kClosed; }, 600s));
    CHECK(client->error() == ETIMEDOUT);
    // 1 + 2 + 4 + ... + 64 s: six retries of a 1 s initial RTO, as Linux.
    CHECK(net.now() - start == 127s);
    CHECK(net.frames_sent() == 7);
}

TEST_CASE("a dead peer times the connection out with ETIMEDOUT", "[tcp][scenario]") {
    TcpConfig config;
    config.retries2 = 5;
    Pair p(config);
    p.net.set_faults(true, cut());
    p.net.set_faults(false, cut());
    const Instant start = p.net.now();
    p.client->send(std::vector<uint8_t>(5000, 1), p.net.now());
    REQUIRE(p.net.run_until([&] { return p.client->state() == TcpState::kClosed; }, 3600s));
    CHECK(p.client->error() == ETIMEDOUT);
    // 6 RTO periods from a 200 ms floor, doubling: 0.2 * (2^6 - 1) = 12.6 s.
    CHECK(p.net.now() - start > 10s);
    CHECK(p.net.now() - start < 16s);
    const uint8_t one = 1;
    CHECK(p.client->send(std::span(&one, 1), p.net.now()).error == ETIMEDOUT);
}

TEST_CASE("TCP_USER_TIMEOUT ends retransmission early", "[tcp][scenario]") {
    Pair p;
    p.client->set_user_timeout(3s);
    p.net.set_faults(true, cut());
    const Instant start = p.net.now();
    p.client->send(std::vector<uint8_t>(5000, 1), p.net.now());
    REQUIRE(p.net.run_until([&] { return p.client->state() == TcpState::kClosed; }, 3600s));
    CHECK(p.client->error() == ETIMEDOUT);
    CHECK(p.net.now() - start >= 3s);
    CHECK(p.net.now() - start < 8s);
}

TEST_CASE("zero window: the sender probes, then resumes on the window update",
          "[tcp][scenario][window]") {
    TcpConfig config;
    config.receive_buffer = 16 * 1024;
    Pair p(config);
    p.net.keep_trace = true;
    StreamPump up;
    up.sender = p.client;
    up.total = 100000;  // far more than the receiver buffers
    REQUIRE_FALSE(p.net.run_until(
        [&] {
            up.pump(p.net.now());
            return false;
        },
        20s));
    // The receiver holds at most its buffer (+ < one window-scale unit).
    CHECK(p.server->readable_bytes() <= 16 * 1024 + 1);
    CHECK(p.server->readable_bytes() >= 15 * 1024);
    const TcpInfo stalled = p.client->info(p.net.now());
    CHECK(stalled.snd_wnd == 0);
    size_t probes = 0;
    for (const auto& t : p.net.trace)
        if (t.from_a && t.payload == 0 && (t.header.flags & flags::kAck)) ++probes;
    CHECK(probes >= 3);  // persist probes kept going during the stall
    // Everything was queued, so the FIN waits behind the data.
    CHECK(p.client->state() == TcpState::kFinWait1);
    up.receiver = p.server;
    REQUIRE(p.net.run_until([&] { return up.pump(p.net.now()); }, 60s));
    CHECK(up.received == 100000);
    CHECK(up.received_hash.value == up.sent_hash.value);
}

TEST_CASE("keepalive: answered probes keep it, unanswered ones end it", "[tcp][scenario]") {
    Pair p;
    p.net.keep_trace = true;
    KeepaliveConfig k;
    k.enabled = true;
    k.idle = 10s;
    k.interval = 2s;
    k.probes = 3;
    p.client->set_keepalive(k, p.net.now());
    REQUIRE_FALSE(p.net.run_until([] { return false; }, 35s));
    CHECK(p.client->state() == TcpState::kEstablished);
    size_t probes = 0;
    for (const auto& t : p.net.trace)
        if (t.from_a && t.payload == 0) ++probes;
    CHECK(probes == 3);              // at 10, 20 and 30 s, each answered
    p.net.set_faults(false, cut());  // the peer's answers are lost now
    const Instant start = p.net.now();
    REQUIRE(p.net.run_until([&] { return p.client->state() == TcpState::kClosed; }, 120s));
    CHECK(p.client->error() == ETIMEDOUT);
    // The last answer was at ~30 s: idle (10 s) runs from it, then 3 probes 2 s apart.
    CHECK(p.net.now() - start <= 12s);
    CHECK((p.net.trace.back().header.flags & flags::kRst) != 0);
}

TEST_CASE("TCP_INFO reports real values after a transfer", "[tcp][scenario]") {
    Pair p;
    StreamPump up;
    up.sender = p.client;
    up.receiver = p.server;
    up.total = 1 << 20;
    REQUIRE(p.net.run_until(
        [&] { return up.pump(p.net.now()) && p.client->state() == TcpState::kFinWait2; }, 60s));
    const TcpInfo i = p.client->info(p.net.now());
    CHECK(i.state == TcpState::kFinWait2);
    CHECK(i.bytes_acked == (1u << 20));
    CHECK(i.bytes_sent >= (1u << 20));
    CHECK(i.rtt_us >= 2000);  // 2 x 1 ms propagation
    CHECK(i.rtt_us < 20000);
    CHECK(i.snd_cwnd >= 10);
    CHECK(i.snd_mss == 1448);
    CHECK(i.opt_sack);
    CHECK(i.opt_timestamps);
    CHECK(i.opt_wscale);
    CHECK(i.data_segs_out >= (1u << 20) / 1448);
    const TcpInfo s = p.server->info(p.net.now());
    CHECK(s.bytes_received == (1u << 20));
    CHECK(s.state == TcpState::kCloseWait);
}

}  // namespace xlane::tcp::test

// The kernel's layout, seen only here and in tcp_info_linux.cpp.
#include <linux/tcp.h>

#include "tcp/tcp_info_linux.h"

namespace xlane::tcp::test {

TEST_CASE("TCP_INFO in the kernel's struct tcp_info layout", "[tcp][scenario]") {
    Pair p;
    StreamPump up;
    up.sender = p.client;
    up.receiver = p.server;
    up.total = 100000;
    REQUIRE(p.net.run_until([&] { return up.pump(p.net.now()); }, 60s));
    const TcpInfo info = p.client->info(p.net.now());
    tcp_info k{};
    std::span<uint8_t> bytes(reinterpret_cast<uint8_t*>(&k), sizeof k);
    REQUIRE(fill_linux_tcp_info(info, bytes) == sizeof k);
    CHECK(k.tcpi_state == linux_tcp_state(info.state));
    CHECK(k.tcpi_options == (TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE));
    CHECK(k.tcpi_snd_mss == 1448);
    CHECK(k.tcpi_rtt == info.rtt_us);
    CHECK(k.tcpi_bytes_acked == info.bytes_acked);
    CHECK(k.tcpi_snd_cwnd == info.snd_cwnd);
    CHECK(k.tcpi_rcv_wscale == info.rcv_wscale);
    CHECK(linux_tcp_state(TcpState::kEstablished) == 1);  // TCP_ESTABLISHED
    CHECK(linux_tcp_state(TcpState::kClosing) == 11);  // TCP_CLOSING
    // A short optlen gets the prefix, as from the kernel.
    tcp_info prefix{};
    std::span<uint8_t> eight(reinterpret_cast<uint8_t*>(&prefix), 8);
    CHECK(fill_linux_tcp_info(info, eight) == 8);
    CHECK(prefix.tcpi_state == k.tcpi_state);
    CHECK(prefix.tcpi_rto == 0);
}

}  // namespace xlane::tcp::test
