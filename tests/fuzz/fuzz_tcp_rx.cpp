// libFuzzer target: the TCP input path as the engine runs it for a frame it
// demultiplexed to a connection: decode_segment() on the raw TCP header,
// options and payload, then TcpConnection::on_segment(), interleaved with
// the socket calls (send, recv, shutdown, close, abort, options), timers and
// output draining, on one connection at a time.
//
// The harness plays the peer, so the fuzzer gets past the handshake and the
// sequence checks: it knows both initial sequence numbers (the connection's
// from its SYN or SYN-ACK, its own from the script) and writes every
// segment's seq and ack as signed offsets from them. The header, options
// and payload are otherwise the fuzzer's bytes, checksum unchecked (the
// engine verifies checksums before this point; mutated frames would rarely
// keep them).
//
// Input (FuzzInput): role (even: the connection connects; odd: it is
// accepted from the script's SYN), config bits, the peer's ISN, then
// operations, each an opcode byte and its fields (LLVMFuzzerTestOneInput).
// Invariants: the receive side never holds more than its buffer allows
// (in-order plus out-of-order bytes within the receive buffer plus one
// window-scale unit), and the connection never emits a segment with a
// payload larger than its MSS.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "fuzz_input.h"
#include "packet/wire.h"
#include "tcp/tcp_connection.h"
#include "tcp/tcp_segment.h"

namespace {

namespace packet = xlane::packet;
namespace tcp = xlane::tcp;
using tcp::Instant;

const packet::Ipv6Addr kLocal = packet::ipv4_mapped({198, 18, 0, 2});
const packet::Ipv6Addr kRemote = packet::ipv4_mapped({198, 18, 0, 1});
constexpr uint16_t kLocalPort = 7000;
constexpr uint16_t kRemotePort = 40000;

struct Peer {
    uint32_t isn = 0;        // the harness's (the peer's) initial sequence number
    uint32_t their_isn = 0;  // the connection's, learnt from its SYN or SYN-ACK
};

void store32(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}

// Raw TCP bytes from the peer to the connection: a 20-byte header, the
// fuzzer's option bytes (padded to 4; the data offset may also be the
// fuzzer's), then the payload.
std::vector<uint8_t> raw_segment(uint32_t seq, uint32_t ack, uint8_t flags, uint16_t window,
                                 const std::vector<uint8_t>& options, uint8_t offset_override,
                                 const std::vector<uint8_t>& payload) {
    const size_t option_len = std::min<size_t>((options.size() + 3) / 4 * 4, 40);
    std::vector<uint8_t> l4(20 + option_len + payload.size(), 0);
    l4[0] = static_cast<uint8_t>(kRemotePort >> 8);
    l4[1] = static_cast<uint8_t>(kRemotePort);
    l4[2] = static_cast<uint8_t>(kLocalPort >> 8);
    l4[3] = static_cast<uint8_t>(kLocalPort);
    store32(&l4[4], seq);
    store32(&l4[8], ack);
    const uint8_t words = offset_override != 0 ? (offset_override & 0x0f)
                                               : static_cast<uint8_t>((20 + option_len) / 4);
    l4[12] = static_cast<uint8_t>(words << 4);
    l4[13] = flags;
    l4[14] = static_cast<uint8_t>(window >> 8);
    l4[15] = static_cast<uint8_t>(window);
    std::copy_n(options.begin(), std::min(options.size(), option_len), l4.begin() + 20);
    std::copy(payload.begin(), payload.end(), l4.begin() + 20 + static_cast<long>(option_len));
    return l4;
}

// Pops everything the connection wants to send; checks each segment.
void drain(tcp::TcpConnection& c, Peer& peer) {
    while (auto out = c.pop_output()) {
        if (out->header.has(tcp::flags::kSyn)) peer.their_isn = out->header.seq;
        XLANE_FUZZ_REQUIRE(out->payload.size() <= std::max<uint32_t>(c.effective_mss(), 1));
    }
}

void check_receive_bound(const tcp::TcpConnection& c) {
    const size_t held = c.readable_bytes() + c.out_of_order_bytes();
    XLANE_FUZZ_REQUIRE(held <= c.config().receive_buffer + (size_t{1} << 14));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    xlane::fuzz::FuzzInput in(data, size);
    const bool passive = (in.u8() & 1) != 0;
    const uint8_t bits = in.u8();
    tcp::TcpConfig config;
    config.window_scaling = (bits & 1) == 0;
    config.timestamps = (bits & 2) == 0;
    config.sack = (bits & 4) == 0;
    config.congestion = (bits & 8) ? tcp::CongestionAlgorithm::kNewReno
                                   : tcp::CongestionAlgorithm::kCubic;
    config.receive_buffer = size_t{4096} << (bits >> 4 & 7);  // 4 KiB .. 512 KiB
    config.send_buffer = config.receive_buffer;
    Peer peer;
    peer.isn = in.u32();
    Instant now = std::chrono::seconds(1);
    const tcp::FourTuple tuple{{kLocal, kLocalPort}, {kRemote, kRemotePort}};

    std::unique_ptr<tcp::TcpConnection> c;
    if (passive) {
        // The peer's SYN, with the fuzzer's options: the connection starts in SYN-RECEIVED.
        const uint16_t window = in.u16();
        const auto options = in.bytes();
        const auto l4 = raw_segment(peer.isn, 0, tcp::flags::kSyn, window, options, 0, {});
        const auto syn = tcp::decode_segment(l4, kRemote, kLocal, false);
        if (!syn.ok()) return 0;
        c = tcp::TcpConnection::from_syn(config, tuple, syn.segment, now);
    } else {
        c = tcp::TcpConnection::connect(config, tuple, now);
    }
    if (!c) return 0;
    drain(*c, peer);

    std::array<uint8_t, 65536> scratch{};
    for (int op = 0; op < 4096 && !in.empty(); ++op) {
        switch (in.u8() % 10) {
            case 0:
            case 1:
            case 2: {  // a segment from the peer, seq/ack relative to both ISNs
                const auto seq_delta = static_cast<int32_t>(in.u32());
                const auto ack_delta = static_cast<int32_t>(in.u32());
                const uint8_t flags = in.u8();
                const uint16_t window = in.u16();
                const uint8_t offset_override = in.u8() < 16 ? in.u8() : 0;
                const auto options = in.bytes();
                const auto payload = in.bytes();
                const auto l4 = raw_segment(peer.isn + static_cast<uint32_t>(seq_delta),
                                            peer.their_isn + static_cast<uint32_t>(ack_delta),
                                            flags, window, options, offset_override, payload);
                const auto decoded = tcp::decode_segment(l4, kRemote, kLocal, false);
                if (decoded.ok()) c->on_segment(decoded.segment, now);
                break;
            }
            case 3: {  // the application sends
                const size_t n = std::min<size_t>(in.u16(), scratch.size());
                (void)c->send({scratch.data(), n}, now);
                break;
            }
            case 4: {  // the application reads (or peeks)
                const size_t n = std::min<size_t>(in.u16(), scratch.size());
                if (in.u8() & 1)
                    (void)c->peek(in.u16(), {scratch.data(), n});
                else
                    (void)c->recv({scratch.data(), n}, now);
                break;
            }
            case 5: {  // time passes; timers that are due fire
                now += std::chrono::microseconds(in.u32() % 400'000'000);
                if (c->next_deadline() <= now) c->on_timer(now);
                break;
            }
            case 6: {
                const uint8_t how = in.u8() % 3;
                (void)c->shutdown(how != 1, how != 0, now);
                break;
            }
            case 7:
                if (in.u8() & 1)
                    c->close(now);
                else
                    c->abort(now);
                break;
            case 8: {  // options
                const uint8_t which = in.u8();
                const bool on = (which & 0x80) != 0;
                switch (which % 4) {
                    case 0: c->set_nodelay(on, now); break;
                    case 1: c->set_cork(on, now); break;
                    case 2: c->set_quickack(on, now); break;
                    default: {
                        tcp::KeepaliveConfig keepalive;
                        keepalive.enabled = on;
                        keepalive.idle = std::chrono::seconds(1 + in.u8());
                        keepalive.interval = std::chrono::seconds(1 + in.u8() % 16);
                        keepalive.probes = in.u8() % 10;
                        c->set_keepalive(keepalive, now);
                    }
                }
                break;
            }
            default:  // the level queries the socket layer asks
                (void)c->take_events();
                (void)c->readable();
                (void)c->writable();
                (void)c->info(now);
                break;
        }
        drain(*c, peer);
        check_receive_bound(*c);
    }
    return 0;
}
