// FrameParser: the RX path's reading of an Ethernet frame, the C++ mirror of
// the XDP steering program's parse rules plus what user space needs on top
// (L4 length consistency, checksums) and a precise reason for every refusal.
#pragma once

#include <cstdint>
#include <string_view>

#include "packet/wire.h"
#include "xlane/abi.h"

namespace xlane::packet {

// Why a frame was not accepted. The first group mirrors xlane_steer; the
// checksum group is only checked when asked (XDP does not verify checksums).
enum class ParseError : uint8_t {
    kNone = 0,
    kTruncatedEthernet,    // shorter than the Ethernet header
    kTruncatedVlan,        // VLAN tag cut short
    kNotIp,                // ARP, LLDP, ..., or more than 2 VLAN tags
    kTruncatedIpHeader,    // shorter than the fixed IPv4/IPv6 header
    kBadIpVersion,         // version nibble is not 4 (0x0800) / 6 (0x86dd)
    kBadIpv4HeaderLength,  // IHL < 5
    kBadIpLength,          // IPv4 total length < IHL*4 or beyond the frame; IPv6 payload beyond
    kFragment,             // IPv4 MF/offset, IPv6 fragment header
    kIpv6ExtensionHeader,  // IPv6 extension header other than fragment
    kNotUdpTcp,            // ICMP, other protocols
    kTruncatedL4Header,    // UDP/TCP header cut short by the frame end
    kBadUdpLength,         // UDP length < 8 or beyond the IP payload
    kBadTcpDataOffset,     // TCP data offset < 5 or beyond the IP payload
    kBadIpv4Checksum,
    kBadL4Checksum,  // includes a zero UDP checksum over IPv6
};

[[nodiscard]] std::string_view to_string(ParseError error);

// The xlane_steer reason a frame with this parse error is counted under.
// For kNone (a well-formed UDP/TCP frame) the program's reason depends on
// the maps, so this returns XLANE_REASON_PASS_NO_MATCH; checksum errors are
// invisible to XDP and map the same way.
[[nodiscard]] xlane_xdp_reason xdp_reason_for(ParseError error);

struct ParseOptions {
    bool verify_checksums = true;
    // Also accept a UDP/TCP checksum field that holds just the pseudo-header
    // sum: the form a sender on this host leaves for checksum offload
    // (CHECKSUM_PARTIAL, Linux's `~tcp_v4_check(len, saddr, daddr, 0)`). A
    // veth, a tap or generic XDP after GRO hands such a frame over as it is,
    // and the kernel trusts it there; rejecting it cut every local sender
    // with the default offloads off the fast path. Such a frame was never on
    // a wire (a NIC completes the sum when it sends), so nothing is left to
    // verify; a corrupted frame matches it by chance no more often than it
    // matches its true checksum (1 in 65536).
    bool accept_partial_checksums = false;
};

// What a parsed frame holds. Offsets are from the frame start; addresses of
// IPv4 frames are IPv4-mapped so one type serves both families.
struct ParsedFrame {
    ParseError error = ParseError::kNone;
    uint8_t vlan_count = 0;
    uint16_t vlan_ids[2] = {0, 0};
    uint16_t ethertype = 0;  // after VLAN tags
    uint8_t ip_version = 0;  // 4 or 6
    uint8_t protocol = 0;    // IPPROTO_UDP / IPPROTO_TCP
    uint8_t ttl = 0;
    Ipv6Addr src_addr{};
    Ipv6Addr dst_addr{};
    uint16_t src_port = 0;  // host order
    uint16_t dst_port = 0;
    size_t l3_offset = 0;
    size_t l4_offset = 0;
    size_t payload_offset = 0;
    size_t payload_length = 0;  // UDP: length - 8; TCP: IP payload - data offset
    // TCP only
    uint8_t tcp_flags = 0;
    uint32_t tcp_seq = 0;
    uint32_t tcp_ack = 0;
    uint16_t tcp_window = 0;
    // The L4 checksum field held the pseudo-header sum only (accepted under
    // ParseOptions::accept_partial_checksums).
    bool partial_checksum = false;

    [[nodiscard]] bool ok() const { return error == ParseError::kNone; }
    [[nodiscard]] bool is_ipv4() const { return ip_version == 4; }
};

// Parses `frame`; never reads outside it.
[[nodiscard]] ParsedFrame parse_frame(Bytes frame, ParseOptions options = {});

// The 5-tuple key xlane_steer looks up for this frame (local = destination).
[[nodiscard]] xlane_flow_key flow_key_of(const ParsedFrame& frame);

}  // namespace xlane::packet
