// Wire-format vocabulary shared by the packet builder and parser: address
// types, header sizes and unaligned big-endian loads/stores over byte spans.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace xlane::packet {

// TCP flag bits as they sit in the 14th byte of the TCP header.
namespace tcp_flags {
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kAck = 0x10;
inline constexpr uint8_t kUrg = 0x20;
}  // namespace tcp_flags

using MacAddr = std::array<uint8_t, 6>;
using Ipv4Addr = std::array<uint8_t, 4>;
using Ipv6Addr = std::array<uint8_t, 16>;
using Bytes = std::span<const uint8_t>;

// Header sizes without options or extension headers.
inline constexpr size_t kEthHeaderLen = 14;
inline constexpr size_t kVlanTagLen = 4;
inline constexpr size_t kIpv4HeaderLen = 20;
inline constexpr size_t kIpv6HeaderLen = 40;
inline constexpr size_t kUdpHeaderLen = 8;
inline constexpr size_t kTcpHeaderLen = 20;
inline constexpr size_t kIcmpHeaderLen = 8;
inline constexpr size_t kArpIpv4Len = 28;
inline constexpr size_t kIpv6FragmentHeaderLen = 8;

// Ethertypes and IP protocol numbers the parser and builder know by name.
inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;  // 802.1Q C-tag
inline constexpr uint16_t kEtherTypeQinQ = 0x88a8;  // 802.1ad S-tag
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIpv6Fragment = 44;
inline constexpr uint8_t kProtoIcmpv6 = 58;
inline constexpr uint8_t kProtoIpv6NoNext = 59;

// IPv6 extension headers the XDP program leaves to the kernel (the fragment
// header, 44, is reported separately as a fragment).
[[nodiscard]] constexpr bool is_ipv6_extension_header(uint8_t next_header) {
    switch (next_header) {
        case 0:    // hop-by-hop options
        case 43:   // routing
        case 51:   // authentication header
        case 60:   // destination options
        case 135:  // mobility
        case 139:  // host identity protocol
        case 140:  // shim6
            return true;
        default:
            return false;
    }
}

// Frames arrive at any alignment, so fields are read byte by byte rather
// than through casts to header structs (which would be undefined behaviour).
[[nodiscard]] inline uint16_t load_be16(const uint8_t* p) {
    return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
[[nodiscard]] inline uint32_t load_be32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline void store_be16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
inline void store_be32(uint8_t* p, uint32_t v) {
    store_be16(p, static_cast<uint16_t>(v >> 16));
    store_be16(p + 2, static_cast<uint16_t>(v));
}

// Text to address ("198.18.0.1", "fd00:198:18::1", "02:00:00:00:00:01");
// nullopt when the text is not an address of that family.
[[nodiscard]] std::optional<Ipv4Addr> parse_ipv4(std::string_view text);
[[nodiscard]] std::optional<Ipv6Addr> parse_ipv6(std::string_view text);
[[nodiscard]] std::optional<MacAddr> parse_mac(std::string_view text);

// ::ffff:a.b.c.d, the form the steering maps store IPv4 addresses in.
[[nodiscard]] Ipv6Addr ipv4_mapped(const Ipv4Addr& addr);

}  // namespace xlane::packet
