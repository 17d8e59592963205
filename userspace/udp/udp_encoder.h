// UdpEncoder: turns one UDP datagram (payload as an iovec array) into
// Ethernet+IPv4/IPv6+UDP frames in caller-given buffers (UMEM frames for the
// XSK TX ring), with software checksums and IP fragmentation as Linux does it.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/result.h"
#include "packet/wire.h"

namespace xlane::udp {

// Largest UDP payloads the IP length fields can carry (no jumbograms):
// 65535 - 20 - 8 and 65535 - 8 (the IPv6 payload length excludes its header).
inline constexpr size_t kMaxUdpPayloadV4 = 65507;
inline constexpr size_t kMaxUdpPayloadV6 = 65527;
// Smallest MTUs a link may have (RFC 791: 68, RFC 8200: 1280).
inline constexpr uint32_t kMinMtuV4 = 68;
inline constexpr uint32_t kMinMtuV6 = 1280;

// Linux's IP_MTU_DISCOVER / IPV6_MTU_DISCOVER + IPV6_DONTFRAG choices that
// matter when building frames (path MTU learning itself lives elsewhere).
enum class DfPolicy : uint8_t {
    kWant,  // IP_PMTUDISC_WANT (the default): DF on datagrams that fit, larger ones fragmented
    kDont,  // IP_PMTUDISC_DONT: never DF, larger datagrams fragmented
    kDo,    // IP_PMTUDISC_DO / IPV6_DONTFRAG: DF, never fragmented: EMSGSIZE above the MTU
};

// Everything about a datagram's frames except its payload: typically fixed
// per (socket, destination), so it is validated once in UdpEncoder::create().
struct UdpFrameTemplate {
    packet::MacAddr src_mac{};
    packet::MacAddr dst_mac{};
    // IPv4-mapped (::ffff:a.b.c.d) for IPv4; both ends of the same family.
    packet::Ipv6Addr src_addr{};
    packet::Ipv6Addr dst_addr{};
    uint16_t src_port = 0;  // host order
    uint16_t dst_port = 0;
    uint8_t ttl = 64;         // IPv4 TTL / IPv6 hop limit
    uint8_t tos = 0;          // IPv4 TOS / IPv6 traffic class (DSCP + ECN)
    uint32_t flow_label = 0;  // IPv6 only, 20 bits
    DfPolicy df = DfPolicy::kWant;
    // IP MTU: the largest IP packet, Ethernet header excluded. Values above
    // 65535 (lo has 65536) act as 65535, the largest IP packet there is.
    uint32_t mtu = 1500;
};

// One output buffer: the encoder fills `length` with the frame's size.
struct FrameSlot {
    std::span<uint8_t> buffer;
    size_t length = 0;
};

class UdpEncoder {
  public:
    // EINVAL when the addresses mix families, the MTU is below the family's
    // minimum or the flow label exceeds 20 bits.
    [[nodiscard]] static Result<UdpEncoder> create(const UdpFrameTemplate& tmpl);

    [[nodiscard]] const UdpFrameTemplate& frame_template() const { return tmpl_; }
    [[nodiscard]] bool is_ipv6() const { return ipv6_; }
    [[nodiscard]] size_t max_payload() const { return ipv6_ ? kMaxUdpPayloadV6 : kMaxUdpPayloadV4; }

    // Frames encode() needs for a payload of this size (0 when it would fail
    // with EMSGSIZE), and the largest frame it writes: the caller sizes its
    // slots with these before taking UMEM frames.
    [[nodiscard]] size_t frames_needed(size_t payload_len) const;
    [[nodiscard]] size_t max_frame_length() const;

    // Writes the datagram into out[0..n) and returns n. An IPv4 datagram takes
    // one IP id from `ip_id` (its low 16 bits, then ++ip_id); an IPv6 one
    // takes one only when fragmented (32-bit fragment identification).
    // Errors (nothing written, no id taken): EMSGSIZE above max_payload() or,
    // with DfPolicy::kDo, above the MTU; ENOBUFS when `out` has fewer than
    // frames_needed() slots or a slot is shorter than the frame it must hold.
    // No syscalls, and no allocation on success (an Error's message is a string).
    [[nodiscard]] Result<size_t> encode(std::span<const iovec> payload, uint32_t& ip_id,
                                        std::span<FrameSlot> out) const;

  private:
    explicit UdpEncoder(const UdpFrameTemplate& tmpl, bool ipv6) : tmpl_(tmpl), ipv6_(ipv6) {}

    // IP header + (IPv6) fragment header bytes in front of each fragment's data.
    [[nodiscard]] size_t ip_header_length(bool fragmented) const;
    // Bytes of UDP datagram (header + payload) per fragment: a multiple of 8.
    [[nodiscard]] size_t fragment_data_unit() const;
    // True when the UDP datagram must be split.
    [[nodiscard]] bool needs_fragments(size_t udp_len) const;

    UdpFrameTemplate tmpl_;
    bool ipv6_ = false;
};

}  // namespace xlane::udp
