// libFuzzer target: the UDP receive path as UdpEngine::handle_frame() and
// deliver() run it (userspace/engine/udp_engine_rx.cpp), with the real
// classes: parse_frame -> Reassembler (fragments, then a re-parse of the
// whole datagram) -> UdpDemux -> DatagramQueue, interleaved with reads
// (plain, peek, short iovecs), budget changes and clock steps that expire
// fragments. The engine's AF_XDP rings and locks are left out: they only
// hand frames to this path.
//
// Input: a script read by FuzzInput (fuzz_input.h): two budgets, then
// operations, each an opcode byte and its fields (see LLVMFuzzerTestOneInput
// and the seeds in make_seeds.cpp). Mutated frames rarely
// keep valid checksums, so a frame operation may ask the harness to fix the
// IPv4 header and UDP checksums first, which lets the fuzzer reach the demux
// and queues with headers it chose.
#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "fuzz_input.h"
#include "packet/checksum.h"
#include "packet/frame_parser.h"
#include "packet/wire.h"
#include "udp/datagram_queue.h"
#include "udp/mapped_address.h"
#include "udp/reassembler.h"
#include "udp/udp_demux.h"

namespace {

namespace packet = xlane::packet;
namespace udp = xlane::udp;

// The sockets the seed corpus aims at (tests/fuzz/make_seeds.cpp uses the
// same addresses and ports): one of each demux match kind and family.
// How the engine parses what a port receives (engine::kReceivedFrameParse).
constexpr packet::ParseOptions kEngineParse{.accept_partial_checksums = true};
const packet::Ipv6Addr kLocal4 = packet::ipv4_mapped({198, 18, 0, 2});
const packet::Ipv6Addr kRemote4 = packet::ipv4_mapped({198, 18, 0, 1});
const packet::Ipv6Addr kLocal6 = {0xfd, 0x00, 0x01, 0x98, 0x00, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

bool is_checksum_error(packet::ParseError error) {
    return error == packet::ParseError::kBadIpv4Checksum ||
           error == packet::ParseError::kBadL4Checksum;
}

// Rewrites the IPv4 header checksum and, for a complete UDP datagram, the
// UDP checksum, so a mutated header still passes verification.
void fix_checksums(std::vector<uint8_t>& frame) {
    packet::ParsedFrame lax = packet::parse_frame(frame, {.verify_checksums = false});
    if (lax.l3_offset == 0) return;
    uint8_t* ip = frame.data() + lax.l3_offset;
    const size_t room = frame.size() - lax.l3_offset;
    if (room >= packet::kIpv4HeaderLen && (ip[0] >> 4) == 4 &&
        lax.ethertype == packet::kEtherTypeIpv4) {
        const size_t header_len = size_t{ip[0] & 0x0fu} * 4;
        if (header_len >= packet::kIpv4HeaderLen && header_len <= room) {
            packet::store_be16(ip + 10, 0);
            packet::store_be16(ip + 10, packet::internet_checksum({ip, header_len}));
        }
    }
    if (!lax.ok() || lax.protocol != packet::kProtoUdp) return;
    uint8_t* l4 = frame.data() + lax.l4_offset;
    const size_t udp_len = lax.payload_length + packet::kUdpHeaderLen;
    packet::store_be16(l4 + 6, 0);
    uint32_t pseudo = 0;
    if (lax.is_ipv4()) {
        packet::Ipv4Addr src{}, dst{};
        std::copy_n(lax.src_addr.begin() + 12, 4, src.begin());
        std::copy_n(lax.dst_addr.begin() + 12, 4, dst.begin());
        pseudo = packet::pseudo_header_sum_v4(src, dst, packet::kProtoUdp,
                                              static_cast<uint32_t>(udp_len));
    } else {
        pseudo = packet::pseudo_header_sum_v6(lax.src_addr, lax.dst_addr, packet::kProtoUdp,
                                              static_cast<uint32_t>(udp_len));
    }
    uint16_t sum = packet::internet_checksum({l4, udp_len}, pseudo);
    if (sum == 0) sum = 0xffff;  // zero means "none" on the wire
    packet::store_be16(l4 + 6, sum);
}

struct Socket {
    explicit Socket(size_t budget) : queue(budget) {}
    udp::DatagramQueue queue;
    uint64_t delivered = 0;
    uint64_t dropped = 0;
};

// UdpEngine's receive state without the rings: the same members, and
// handle_frame()/deliver() step for step.
class RxPath {
  public:
    RxPath(const udp::ReassemblyConfig& reassembly, size_t rcvbuf) : reassembler_(reassembly) {
        for (int i = 0; i < 5; ++i) sockets_.push_back(std::make_unique<Socket>(rcvbuf));
        XLANE_FUZZ_REQUIRE(demux_.add_bound(kLocal4, 5001, 0).ok());
        XLANE_FUZZ_REQUIRE(demux_.add_bound(udp::kAnyIpv4Mapped, 5001, 1).ok());
        XLANE_FUZZ_REQUIRE(demux_.add_bound(udp::kAnyIpv6, 5002, 2, /*v6only=*/false).ok());
        XLANE_FUZZ_REQUIRE(demux_.add_connected(kLocal4, 6000, kRemote4, 40000, 3).ok());
        XLANE_FUZZ_REQUIRE(demux_.add_bound(kLocal6, 5001, 4, /*v6only=*/true).ok());
    }

    void handle_frame(packet::Bytes frame, uint64_t now_ns) {
        const packet::ParsedFrame parsed = packet::parse_frame(frame, kEngineParse);
        if (parsed.error == packet::ParseError::kFragment) {
            udp::ReassemblyOutcome outcome = reassembler_.submit(frame, parsed, now_ns);
            if (outcome.verdict != udp::FragmentVerdict::kReassembled) {
                XLANE_FUZZ_REQUIRE(outcome.frame.empty());
                return;
            }
            const packet::Bytes whole(outcome.frame.data(), outcome.frame.size());
            const packet::ParsedFrame reparsed = packet::parse_frame(whole, kEngineParse);
            // A reassembled frame is never itself a fragment again.
            XLANE_FUZZ_REQUIRE(reparsed.error != packet::ParseError::kFragment);
            if (reparsed.ok()) deliver(whole, reparsed, now_ns);
            return;
        }
        if (is_checksum_error(parsed.error) || !parsed.ok()) return;
        deliver(frame, parsed, now_ns);
    }

    void receive(size_t socket_index, size_t iov_count, size_t iov_size, bool peek) {
        Socket& socket = *sockets_[socket_index % sockets_.size()];
        const size_t before = socket.queue.size();
        const size_t next = before ? socket.queue.next_length() : 0;
        std::array<std::vector<uint8_t>, 4> buffers;
        std::array<iovec, 4> iov{};
        iov_count %= iov.size() + 1;
        for (size_t i = 0; i < iov_count; ++i) {
            buffers[i].resize(iov_size);
            iov[i] = {buffers[i].data(), buffers[i].size()};
        }
        auto got = socket.queue.receive(std::span(iov.data(), iov_count), peek);
        XLANE_FUZZ_REQUIRE(got.has_value() == (before != 0));
        if (!got) return;
        XLANE_FUZZ_REQUIRE(got->length == next);
        XLANE_FUZZ_REQUIRE(got->copied <= got->length && got->copied <= iov_count * iov_size);
        XLANE_FUZZ_REQUIRE(socket.queue.size() == (peek ? before : before - 1));
    }

    void set_budget(size_t socket_index, size_t budget) {
        sockets_[socket_index % sockets_.size()]->queue.set_budget(budget);
    }

    void expire(uint64_t now_ns) {
        reassembler_.expire(now_ns);
        // The budget is a hard limit on what incomplete datagrams hold.
        XLANE_FUZZ_REQUIRE(reassembler_.bytes_used() <= reassembler_.config().budget_bytes);
        if (reassembler_.pending_datagrams() == 0)
            XLANE_FUZZ_REQUIRE(reassembler_.bytes_used() == 0);
    }

  private:
    void deliver(packet::Bytes frame, const packet::ParsedFrame& parsed, uint64_t now_ns) {
        if (parsed.protocol != packet::kProtoUdp) return;
        const auto hit = demux_.lookup(parsed);
        if (!hit) return;
        XLANE_FUZZ_REQUIRE(hit->socket < sockets_.size());
        Socket& socket = *sockets_[hit->socket];
        udp::DatagramMeta meta;
        meta.src_addr = parsed.src_addr;
        meta.dst_addr = parsed.dst_addr;
        meta.src_port = parsed.src_port;
        meta.dst_port = parsed.dst_port;
        meta.rx_timestamp_ns = now_ns;
        if (socket.queue.push(meta, frame.subspan(parsed.payload_offset, parsed.payload_length)))
            ++socket.delivered;
        else
            ++socket.dropped;
    }

    udp::Reassembler reassembler_;
    udp::UdpDemux demux_;
    std::vector<std::unique_ptr<Socket>> sockets_;
};

}  // namespace

// Opcodes (byte % 8): 0-2 frame {u8 fix_checksums, u16 length, bytes},
// 3-4 receive {u8 socket, u8 iov count, u16 iov size, u8 peek},
// 5 set budget {u8 socket, u16 budget}, 6-7 clock step and expire {u32 ms}.
// Header: {u16 reassembly budget (0xffff: Linux's default), u16 rcvbuf}.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    xlane::fuzz::FuzzInput in(data, size);
    udp::ReassemblyConfig reassembly;
    // Small budgets reach the "budget exhausted" paths with few fragments.
    if (const uint16_t budget = in.u16(); budget != 0xffff) reassembly.budget_bytes = budget;
    RxPath path(reassembly, in.u16());

    uint64_t now_ns = 1'000'000'000;
    while (!in.empty()) {
        switch (in.u8() % 8) {
            case 0:
            case 1:
            case 2: {  // a frame off the RX ring
                const bool fix = in.u8() & 1;
                std::vector<uint8_t> frame = in.bytes();
                if (fix) fix_checksums(frame);
                path.handle_frame(frame, now_ns);
                break;
            }
            case 3:
            case 4: {
                const uint8_t socket = in.u8();
                const uint8_t count = in.u8();
                const uint16_t iov_size = in.u16();
                path.receive(socket, count, iov_size % 4096, in.u8() & 1);
                break;
            }
            case 5: {
                const uint8_t socket = in.u8();
                path.set_budget(socket, in.u16());
                break;
            }
            default:  // the progress thread's expiry, after some time passed
                now_ns += uint64_t{in.u32()} * 1'000'000;
                path.expire(now_ns);
                break;
        }
    }
    return 0;
}
