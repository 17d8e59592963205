// Reads the fragment fields of a frame the FrameParser stopped at with
// ParseError::kFragment: what the Reassembler keys, orders and copies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "packet/frame_parser.h"
#include "packet/wire.h"

namespace xlane::udp {

struct FragmentInfo {
    uint8_t ip_version = 0;       // 4 or 6
    packet::Ipv6Addr src_addr{};  // IPv4-mapped for IPv4
    packet::Ipv6Addr dst_addr{};
    uint32_t id = 0;       // IPv4: 16-bit id; IPv6: fragment header identification
    uint8_t protocol = 0;  // IPv4 protocol / next header of the fragment header
    size_t offset = 0;     // in bytes
    bool more = false;     // MF / M flag
    // Frame bytes that make up the reassembled frame's headers: Ethernet (and
    // VLAN tags) plus the IPv4 header with options or the fixed IPv6 header.
    size_t header_length = 0;
    packet::Bytes data;  // the fragment's share of the datagram
};

enum class FragmentReadError : uint8_t {
    kNotFragment,              // the parser did not report a fragment
    kBadIpv4Checksum,          // the parser leaves fragments' header checksums to us
    kTruncatedFragmentHeader,  // IPv6 fragment header beyond the payload length
};

// On success the fragment; `data` points into `frame`. Only IPv6 fragments
// whose fragment header directly follows the fixed header are seen here: the
// parser reports any other extension header chain as kIpv6ExtensionHeader,
// and those frames stay with the kernel like the XDP program leaves them.
struct FragmentReadResult {
    std::optional<FragmentInfo> fragment;
    FragmentReadError error = FragmentReadError::kNotFragment;
};
[[nodiscard]] FragmentReadResult read_fragment(packet::Bytes frame,
                                               const packet::ParsedFrame& parsed);

}  // namespace xlane::udp
