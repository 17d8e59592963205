// Drives xlane's TcpConnection against the Linux kernel's TCP over a real
// veth: frames go in and out through an AF_PACKET socket, for an address the
// kernel of this namespace does not own (so it never answers for us).
//
//   tcp_interop_driver IFACE OUR_MAC PEER_MAC OUR_IP PEER_IP MODE PORT [options]
//     MODE connect: connect to PEER_IP:PORT, send --bytes, FIN, read to EOF, close
//     MODE accept:  listen on OUR_IP:PORT, read to EOF, send --bytes, close
//     MODE refused: connect to a closed PEER_IP:PORT, expect ECONNREFUSED
//     MODE abort:   connect, send --bytes, then abort() (RST) the connection
//   options: --bytes N  --drop P  --dup P  --reorder P (held back 5 ms)  --seed S
//            --cc cubic|newreno  --timeout SEC
//            --no-sack --no-timestamps --no-wscale (what the SYN offers)
//            --expect-error econnreset (the exchange must end with that error)
//            --keepalive-ms N (SO_KEEPALIVE with idle = interval = N ms, 5 probes)
//
// Prints one line "RESULT sent=N sent_crc=X received=M received_crc=Y
// state=S error=E" plus TCP_INFO figures; exit 0 when the exchange completed
// without a socket error (the script compares the CRCs with the kernel side).
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "packet/frame_parser.h"
#include "tcp/fault_injector.h"
#include "tcp/tcp_connection.h"
#include "tcp/tcp_frame.h"

namespace {

using namespace xlane;
using namespace xlane::tcp;
using namespace std::chrono_literals;

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "tcp_interop_driver: %s\n", what.c_str());
    std::exit(2);
}

Instant clock_now() {
    return std::chrono::duration_cast<Instant>(std::chrono::steady_clock::now().time_since_epoch());
}

// The same xorshift stream as the unit tests' PatternStream.
struct Pattern {
    uint64_t state = 0x9e3779b97f4a7c15ULL;
    void fill(std::span<uint8_t> out) {
        for (auto& byte : out) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            byte = static_cast<uint8_t>(state >> 24);
        }
    }
};

struct Options {
    std::string iface;
    packet::MacAddr our_mac{}, peer_mac{};
    packet::Ipv6Addr our_ip{}, peer_ip{};
    std::string mode;
    uint16_t port = 0;
    size_t bytes = 1 << 20;
    FaultRates faults;
    uint64_t seed = 1;
    CongestionAlgorithm cc = CongestionAlgorithm::kCubic;
    int timeout_s = 60;
    bool sack = true, timestamps = true, window_scaling = true;
    int expect_error = 0;
    int keepalive_ms = 0;
};

packet::Ipv6Addr parse_ip(const char* text) {
    if (auto v4 = packet::parse_ipv4(text)) return packet::ipv4_mapped(*v4);
    if (auto v6 = packet::parse_ipv6(text)) return *v6;
    die(std::string("not an IP address: ") + text);
}

Options parse_args(int argc, char** argv) {
    if (argc < 8) die("usage: IFACE OUR_MAC PEER_MAC OUR_IP PEER_IP MODE PORT [options]");
    Options o;
    o.iface = argv[1];
    auto our_mac = packet::parse_mac(argv[2]);
    auto peer_mac = packet::parse_mac(argv[3]);
    if (!our_mac || !peer_mac) die("bad MAC address");
    o.our_mac = *our_mac;
    o.peer_mac = *peer_mac;
    o.our_ip = parse_ip(argv[4]);
    o.peer_ip = parse_ip(argv[5]);
    o.mode = argv[6];
    o.port = static_cast<uint16_t>(std::atoi(argv[7]));
    for (int i = 8; i < argc; ++i) {
        const std::string key = argv[i];
        if (key == "--no-sack") {
            o.sack = false;
            continue;
        }
        if (key == "--no-timestamps") {
            o.timestamps = false;
            continue;
        }
        if (key == "--no-wscale") {
            o.window_scaling = false;
            continue;
        }
        if (i + 1 >= argc) die("option " + key + " needs a value");
        const char* value = argv[++i];
        if (key == "--expect-error") {
            const std::string name = value;
            if (name == "econnreset")
                o.expect_error = ECONNRESET;
            else if (name == "econnrefused")
                o.expect_error = ECONNREFUSED;
            else
                die("unknown error name " + name);
        } else if (key == "--keepalive-ms") {
            o.keepalive_ms = std::atoi(value);
        } else if (key == "--bytes")
            o.bytes = std::strtoull(value, nullptr, 0);
        else if (key == "--drop")
            o.faults.drop = std::atof(value);
        else if (key == "--dup")
            o.faults.duplicate = std::atof(value);
        else if (key == "--reorder")
            o.faults.reorder = std::atof(value);
        else if (key == "--seed")
            o.seed = std::strtoull(value, nullptr, 0);
        else if (key == "--timeout")
            o.timeout_s = std::atoi(value);
        else if (key == "--cc") {
            auto cc = congestion_algorithm_from(value);
            if (!cc) die(std::string("unknown congestion control ") + value);
            o.cc = *cc;
        } else {
            die("unknown option " + key);
        }
    }
    return o;
}

class RawLink {
  public:
    RawLink(const Options& o)
        : options_(o), rx_faults_(o.faults, o.seed * 2 + 1), tx_faults_(o.faults, o.seed * 2 + 2) {
        ifindex_ = static_cast<int>(if_nametoindex(o.iface.c_str()));
        if (ifindex_ == 0) die("no interface " + o.iface);
        fd_ = UniqueFd(
            ::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL)));
        if (!fd_) die(std::string("AF_PACKET socket: ") + std::strerror(errno));
        int one = 1;
        // Our own transmissions must not come back as input.
        if (setsockopt(fd_.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0)
            die(std::string("PACKET_IGNORE_OUTGOING: ") + std::strerror(errno));
        sockaddr_ll addr{};
        addr.sll_family = AF_PACKET;
        addr.sll_protocol = htons(ETH_P_ALL);
        addr.sll_ifindex = ifindex_;
        if (bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
            die(std::string("bind AF_PACKET: ") + std::strerror(errno));
        addressing_.src_mac = o.our_mac;
        addressing_.dst_mac = o.peer_mac;
    }

    int fd() const { return fd_.get(); }

    void send(const OutSegment& segment, Instant now) {
        if (trace_)
            std::fprintf(stderr, "%.6f > seq %u ack %u flags %02x win %u len %zu\n",
                         std::chrono::duration<double>(now).count(), segment.header.seq,
                         segment.header.ack, segment.header.flags, segment.header.window,
                         segment.payload.size());
        const FaultVerdict verdict = tx_faults_.next();
        if (verdict.drop) return;
        std::vector<uint8_t> frame(encoded_frame_size(segment));
        if (encode_frame(segment, addressing_, ip_id_++, frame) != frame.size())
            die("encode_frame failed");
        for (uint32_t copy = 1; copy < verdict.copies; ++copy) tx_held_.emplace(now, frame);
        if (verdict.delay > Duration(0))
            tx_held_.emplace(now + verdict.delay, std::move(frame));
        else
            transmit(frame);
    }

    // Calls `deliver(segment, src, dst)` for every TCP segment to our address
    // that is due, and sends the held-back (reordered) frames that are due.
    template <typename Deliver>
    void receive(Instant now, Deliver&& deliver) {
        uint8_t buffer[65536];
        for (;;) {
            const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR) break;
                die(std::string("recv on AF_PACKET: ") + std::strerror(errno));
            }
            const FaultVerdict verdict = rx_faults_.next();
            if (verdict.drop) continue;
            rx_held_.emplace(now + verdict.delay, std::vector<uint8_t>(buffer, buffer + n));
        }
        while (!tx_held_.empty() && tx_held_.begin()->first <= now) {
            transmit(tx_held_.begin()->second);
            tx_held_.erase(tx_held_.begin());
        }
        while (!rx_held_.empty() && rx_held_.begin()->first <= now) {
            const std::vector<uint8_t> frame = std::move(rx_held_.begin()->second);
            rx_held_.erase(rx_held_.begin());
            const packet::ParsedFrame parsed = packet::parse_frame(frame);
            if (!parsed.ok()) {
                if (parsed.error == packet::ParseError::kBadL4Checksum ||
                    parsed.error == packet::ParseError::kBadIpv4Checksum)
                    ++bad_checksums_;
                continue;
            }
            if (parsed.protocol != packet::kProtoTcp || parsed.dst_addr != options_.our_ip)
                continue;
            const size_t l3_payload_end = parsed.payload_offset + parsed.payload_length;
            const DecodedSegment decoded = decode_segment(
                std::span(frame).subspan(parsed.l4_offset, l3_payload_end - parsed.l4_offset),
                parsed.src_addr, parsed.dst_addr, false);
            if (!decoded.ok()) continue;
            ++frames_in_;
            if (trace_) {
                const auto& h = decoded.segment.header;
                std::fprintf(stderr, "%.6f < seq %u ack %u flags %02x win %u len %zu\n",
                             std::chrono::duration<double>(now).count(), h.seq, h.ack, h.flags,
                             h.window, decoded.segment.payload.size());
            }
            deliver(decoded.segment, parsed.src_addr, parsed.dst_addr);
        }
    }

    // The earliest held-back frame (kNever when none).
    [[nodiscard]] Instant next_release() const {
        Instant next = kNever;
        if (!tx_held_.empty()) next = tx_held_.begin()->first;
        if (!rx_held_.empty()) next = std::min(next, rx_held_.begin()->first);
        return next;
    }

    uint64_t frames_in_ = 0, frames_out_ = 0, bad_checksums_ = 0;
    [[nodiscard]] uint64_t rx_dropped() const { return rx_faults_.dropped(); }
    [[nodiscard]] uint64_t tx_dropped() const { return tx_faults_.dropped(); }
    [[nodiscard]] uint64_t duplicated() const { return tx_faults_.duplicated(); }

  private:
    const Options& options_;
    int ifindex_ = 0;
    UniqueFd fd_;
    FrameAddressing addressing_;
    FaultInjector rx_faults_, tx_faults_;
    uint16_t ip_id_ = 1;
    const bool trace_ = std::getenv("XLANE_TCP_TRACE") != nullptr;  // every segment to stderr
    std::multimap<Instant, std::vector<uint8_t>> tx_held_, rx_held_;

    void transmit(const std::vector<uint8_t>& frame) {
        if (::send(fd_.get(), frame.data(), frame.size(), 0) < 0 && errno != ENOBUFS)
            die(std::string("send on AF_PACKET: ") + std::strerror(errno));
        ++frames_out_;
    }
};

struct Transfer {
    Pattern pattern;
    size_t to_send = 0;
    size_t sent = 0;
    uLong sent_crc = crc32(0, nullptr, 0);
    std::vector<uint8_t> pending;
    size_t pending_offset = 0;
    size_t received = 0;
    uLong received_crc = crc32(0, nullptr, 0);
    bool eof = false;
    bool send_done = false;
    bool fin_when_done = true;
    int error = 0;

    void pump_send(TcpConnection& conn, Instant now) {
        while (!send_done) {
            if (pending_offset == pending.size()) {
                if (sent == to_send) {
                    if (fin_when_done) conn.shutdown(false, true, now);
                    send_done = true;
                    return;
                }
                pending.assign(std::min<size_t>(65536, to_send - sent), 0);
                pattern.fill(pending);
                sent_crc = crc32(sent_crc, pending.data(), static_cast<uInt>(pending.size()));
                sent += pending.size();
                pending_offset = 0;
            }
            const IoResult r = conn.send(std::span(pending).subspan(pending_offset), now);
            if (r.error != 0) {
                if (r.error != EAGAIN) error = r.error;
                return;
            }
            pending_offset += r.bytes;
        }
    }

    void pump_receive(TcpConnection& conn, Instant now) {
        uint8_t buffer[65536];
        while (!eof) {
            const IoResult r = conn.recv(buffer, now);
            if (r.error != 0) {
                if (r.error != EAGAIN) error = r.error;
                return;
            }
            if (r.bytes == 0) {
                eof = true;
                return;
            }
            received_crc = crc32(received_crc, buffer, static_cast<uInt>(r.bytes));
            received += r.bytes;
        }
    }
};

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse_args(argc, argv);
    RawLink link(o);
    TcpConfig config;
    config.congestion = o.cc;
    config.sack = o.sack;
    config.timestamps = o.timestamps;
    config.window_scaling = o.window_scaling;
    if (o.keepalive_ms > 0) {
        config.keepalive.enabled = true;
        config.keepalive.idle = std::chrono::milliseconds(o.keepalive_ms);
        config.keepalive.interval = std::chrono::milliseconds(o.keepalive_ms);
        config.keepalive.probes = 5;
    }
    config.time_wait = 2s;  // long enough to answer a retransmitted FIN
    config.iss_secret = o.seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(getpid());
    std::shared_ptr<TcpConnection> conn;
    std::unique_ptr<TcpListener> listener;
    const Instant start = clock_now();
    const uint16_t our_port =
        o.mode == "accept" ? o.port : static_cast<uint16_t>(40000 + (getpid() % 20000));
    if (o.mode == "accept") {
        listener = std::make_unique<TcpListener>(config, TcpEndpoint{o.our_ip, o.port}, 4);
        std::printf("listening on port %u\n", o.port);
        std::fflush(stdout);
    } else if (o.mode == "connect" || o.mode == "refused" || o.mode == "abort") {
        conn = TcpConnection::connect(config, {{o.our_ip, our_port}, {o.peer_ip, o.port}}, start);
    } else {
        die("unknown mode " + o.mode);
    }

    Transfer t;
    t.to_send = o.bytes;
    t.fin_when_done = o.mode != "abort";  // an abort must not be preceded by a FIN
    bool closed_by_us = false;
    bool done = false;
    const Instant deadline = start + std::chrono::seconds(o.timeout_s);
    auto flush = [&] {
        const Instant now = clock_now();
        if (conn)
            while (auto s = conn->pop_output()) link.send(*s, now);
        if (listener)
            while (auto s = listener->pop_output()) link.send(*s, now);
    };
    while (!done && clock_now() < deadline) {
        const Instant now = clock_now();
        link.receive(
            now, [&](const Segment& seg, const packet::Ipv6Addr& src, const packet::Ipv6Addr& dst) {
                if (conn && seg.header.dst_port == conn->tuple().local.port &&
                    seg.header.src_port == conn->tuple().remote.port && src == o.peer_ip) {
                    conn->on_segment(seg, now);
                    return;
                }
                if (listener && !conn && seg.header.dst_port == o.port) {
                    if (auto c = listener->on_segment(seg, src, dst, now)) conn = c;
                    return;
                }
                if (auto rst = reset_for(seg, src, dst)) link.send(*rst, now);
            });
        if (conn && conn->next_deadline() <= now) conn->on_timer(now);
        flush();

        if (o.mode == "refused") {
            done = conn->state() == TcpState::kClosed;
        } else if (o.mode == "abort") {
            if (conn->state() != TcpState::kSynSent) t.pump_send(*conn, now);
            // All data acknowledged (so the peer has read some): reset it.
            if (t.sent == t.to_send && conn->send_queue_bytes() == 0 && !closed_by_us) {
                conn->abort(now);
                closed_by_us = true;
            }
            done = closed_by_us;
        } else if (o.expect_error != 0 && conn->state() == TcpState::kClosed) {
            done = true;  // ended by the peer's reset
        } else if (o.mode == "connect") {
            if (conn->state() != TcpState::kSynSent) t.pump_send(*conn, now);
            t.pump_receive(*conn, now);
            if (t.eof && t.send_done && !closed_by_us) {
                conn->close(now);
                closed_by_us = true;
            }
            // Active close: done once our FIN is acknowledged and theirs came.
            done = closed_by_us &&
                   (conn->state() == TcpState::kTimeWait || conn->state() == TcpState::kClosed);
        } else if (conn) {  // accept
            if (listener && listener->accept()) listener.reset();
            if (!listener) {
                t.pump_receive(*conn, now);
                if (t.eof) t.pump_send(*conn, now);
                if (t.eof && t.send_done && !closed_by_us) {
                    conn->close(now);
                    closed_by_us = true;
                }
                // Passive close: LAST-ACK ends in CLOSED when our FIN is acknowledged.
                done = closed_by_us && conn->state() == TcpState::kClosed;
            }
        }
        flush();
        if (done) break;
        Instant wake = std::min(clock_now() + 50ms, link.next_release());
        if (conn) wake = std::min(wake, conn->next_deadline());
        const auto wait = std::max<Instant>(wake - clock_now(), Instant(0));
        timespec ts{static_cast<time_t>(wait.count() / 1000000000),
                    static_cast<long>(wait.count() % 1000000000)};
        pollfd pfd{link.fd(), POLLIN, 0};
        if (ppoll(&pfd, 1, &ts, nullptr) < 0 && errno != EINTR)
            die(std::string("ppoll: ") + std::strerror(errno));
    }
    const Instant end = clock_now();
    const int error = conn ? conn->error() : ETIMEDOUT;
    std::printf(
        "RESULT sent=%zu sent_crc=%08lx received=%zu received_crc=%08lx state=%s "
        "error=%s done=%d\n",
        t.sent, t.sent_crc, t.received, t.received_crc,
        conn ? std::string(to_string(conn->state())).c_str() : "none",
        error ? std::strerror(error) : "0", done ? 1 : 0);
    if (conn) {
        const TcpInfo i = conn->info(end);
        std::printf(
            "INFO rtt_us=%u rto_us=%u cwnd=%u mss=%u total_retrans=%u sack=%d ts=%d "
            "wscale=%u/%u frames_in=%lu frames_out=%lu bad_checksums=%lu "
            "injected_drops=%lu/%lu injected_dups=%lu bytes_retrans=%lu "
            "zero_window_probes=%u keepalive_probes=%u seconds=%.3f\n",
            i.rtt_us, i.rto_us, i.snd_cwnd, i.snd_mss, i.total_retrans, i.opt_sack,
            i.opt_timestamps, i.snd_wscale, i.rcv_wscale,
            static_cast<unsigned long>(link.frames_in_),
            static_cast<unsigned long>(link.frames_out_),
            static_cast<unsigned long>(link.bad_checksums_),
            static_cast<unsigned long>(link.tx_dropped()),
            static_cast<unsigned long>(link.rx_dropped()),
            static_cast<unsigned long>(link.duplicated()),
            static_cast<unsigned long>(i.bytes_retrans), i.zero_window_probes, i.keepalive_probes,
            std::chrono::duration<double>(end - start).count());
    }
    if (o.mode == "refused") return done && error == ECONNREFUSED ? 0 : 1;
    if (o.expect_error != 0) return done && error == o.expect_error ? 0 : 1;
    return done && error == 0 && t.error == 0 ? 0 : 1;
}
