// Shared by the UDP engine unit tests: test-network addresses, payload
// patterns and "encode into owned buffers" for datagrams of any size.
#pragma once

#include <sys/uio.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "packet/wire.h"
#include "udp/udp_encoder.h"

namespace xlane::udp::test {

inline const packet::MacAddr kMacA = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
inline const packet::MacAddr kMacB = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
inline const packet::Ipv6Addr kIp4A = packet::ipv4_mapped({198, 18, 0, 1});
inline const packet::Ipv6Addr kIp4B = packet::ipv4_mapped({198, 18, 0, 2});
inline const packet::Ipv6Addr kIp4C = packet::ipv4_mapped({198, 18, 0, 3});
inline const packet::Ipv6Addr kIp6A = *packet::parse_ipv6("fd00:198:18::1");
inline const packet::Ipv6Addr kIp6B = *packet::parse_ipv6("fd00:198:18::2");
inline const packet::Ipv6Addr kIp6C = *packet::parse_ipv6("fd00:198:18::3");

// Bytes that differ with position and seed, so misplaced data shows.
inline std::vector<uint8_t> pattern(size_t size, uint32_t seed = 1) {
    std::vector<uint8_t> out(size);
    uint32_t x = seed * 2654435761u + 1;
    for (auto& b : out) {
        x = x * 1103515245u + 12345u;
        b = static_cast<uint8_t>(x >> 16);
    }
    return out;
}

inline UdpFrameTemplate make_template(bool ipv6, uint32_t mtu = 1500,
                                      DfPolicy df = DfPolicy::kWant) {
    UdpFrameTemplate t;
    t.src_mac = kMacA;
    t.dst_mac = kMacB;
    t.src_addr = ipv6 ? kIp6A : kIp4A;
    t.dst_addr = ipv6 ? kIp6B : kIp4B;
    t.src_port = 40000;
    t.dst_port = 5001;
    t.mtu = mtu;
    t.df = df;
    return t;
}

inline UdpEncoder make_encoder(const UdpFrameTemplate& t) {
    auto encoder = UdpEncoder::create(t);
    REQUIRE(encoder.ok());
    return encoder.value();
}

// Encodes into freshly allocated max_frame_length() buffers; the frames
// come back cut to their lengths.
inline Result<std::vector<std::vector<uint8_t>>> encode_frames(const UdpEncoder& encoder,
                                                               packet::Bytes payload,
                                                               uint32_t& ip_id) {
    const size_t count = std::max<size_t>(1, encoder.frames_needed(payload.size()));
    std::vector<std::vector<uint8_t>> buffers(count,
                                              std::vector<uint8_t>(encoder.max_frame_length()));
    std::vector<FrameSlot> slots;
    for (auto& b : buffers) slots.push_back({b, 0});
    const iovec iov{const_cast<uint8_t*>(payload.data()), payload.size()};
    auto n = encoder.encode(std::span(&iov, 1), ip_id, slots);
    if (!n) return n.error();
    buffers.resize(*n);
    for (size_t i = 0; i < *n; ++i) buffers[i].resize(slots[i].length);
    return buffers;
}

}  // namespace xlane::udp::test
