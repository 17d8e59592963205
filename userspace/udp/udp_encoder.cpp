// UdpEncoder: frames are written first and the UDP checksum summed over them
// afterwards, because fragment data units are multiples of 8 bytes: every
// piece but the last has even length, so checksum_add() chains over the
// frames directly, whatever odd lengths the caller's iovecs have.
#include "udp/udp_encoder.h"

#include <algorithm>
#include <cstring>

#include "packet/checksum.h"
#include "udp/iovec_io.h"
#include "udp/mapped_address.h"

namespace xlane::udp {
namespace {

using packet::kEthHeaderLen;
using packet::kIpv4HeaderLen;
using packet::kIpv6FragmentHeaderLen;
using packet::kIpv6HeaderLen;
using packet::kUdpHeaderLen;
using packet::store_be16;
using packet::store_be32;

constexpr uint16_t kIpv4DontFragment = 0x4000;
constexpr uint16_t kIpv4MoreFragments = 0x2000;
constexpr uint32_t kMaxIpPacket = 65535;

uint32_t effective_mtu(uint32_t mtu) {
    return std::min(mtu, kMaxIpPacket);
}

uint8_t* write_ethernet(uint8_t* p, const UdpFrameTemplate& t, uint16_t ethertype) {
    std::memcpy(p, t.dst_mac.data(), 6);
    std::memcpy(p + 6, t.src_mac.data(), 6);
    store_be16(p + 12, ethertype);
    return p + kEthHeaderLen;
}

// flags_offset: DF/MF bits | offset in 8-byte units.
uint8_t* write_ipv4(uint8_t* p, const UdpFrameTemplate& t, uint16_t total_length, uint16_t id,
                    uint16_t flags_offset) {
    p[0] = 0x45;
    p[1] = t.tos;
    store_be16(p + 2, total_length);
    store_be16(p + 4, id);
    store_be16(p + 6, flags_offset);
    p[8] = t.ttl;
    p[9] = packet::kProtoUdp;
    store_be16(p + 10, 0);
    std::memcpy(p + 12, t.src_addr.data() + 12, 4);
    std::memcpy(p + 16, t.dst_addr.data() + 12, 4);
    store_be16(p + 10, packet::internet_checksum(packet::Bytes(p, kIpv4HeaderLen)));
    return p + kIpv4HeaderLen;
}

uint8_t* write_ipv6(uint8_t* p, const UdpFrameTemplate& t, uint16_t payload_length,
                    uint8_t next_header) {
    store_be32(p, (uint32_t{6} << 28) | (uint32_t{t.tos} << 20) | t.flow_label);
    store_be16(p + 4, payload_length);
    p[6] = next_header;
    p[7] = t.ttl;
    std::memcpy(p + 8, t.src_addr.data(), 16);
    std::memcpy(p + 24, t.dst_addr.data(), 16);
    return p + kIpv6HeaderLen;
}

uint8_t* write_ipv6_fragment(uint8_t* p, size_t offset_bytes, bool more, uint32_t id) {
    p[0] = packet::kProtoUdp;
    p[1] = 0;
    store_be16(p + 2, static_cast<uint16_t>(offset_bytes | (more ? 1 : 0)));  // offset<<3 | M
    store_be32(p + 4, id);
    return p + kIpv6FragmentHeaderLen;
}

}  // namespace

Result<UdpEncoder> UdpEncoder::create(const UdpFrameTemplate& tmpl) {
    const bool src_v4 = is_ipv4_mapped(tmpl.src_addr);
    if (src_v4 != is_ipv4_mapped(tmpl.dst_addr))
        return make_error(EINVAL, "UDP source and destination addresses are of different families");
    const bool ipv6 = !src_v4;
    const uint32_t min_mtu = ipv6 ? kMinMtuV6 : kMinMtuV4;
    if (tmpl.mtu < min_mtu)
        return make_error(EINVAL, "MTU " + std::to_string(tmpl.mtu) + " is below the " +
                                      (ipv6 ? "IPv6" : "IPv4") + " minimum of " +
                                      std::to_string(min_mtu));
    if (tmpl.flow_label > 0xfffff)
        return make_error(EINVAL, "IPv6 flow label does not fit in 20 bits");
    return UdpEncoder(tmpl, ipv6);
}

size_t UdpEncoder::ip_header_length(bool fragmented) const {
    if (!ipv6_) return kIpv4HeaderLen;
    return kIpv6HeaderLen + (fragmented ? kIpv6FragmentHeaderLen : 0);
}

size_t UdpEncoder::fragment_data_unit() const {
    return (effective_mtu(tmpl_.mtu) - ip_header_length(true)) & ~size_t{7};
}

bool UdpEncoder::needs_fragments(size_t udp_len) const {
    return ip_header_length(false) + udp_len > effective_mtu(tmpl_.mtu);
}

size_t UdpEncoder::frames_needed(size_t payload_len) const {
    if (payload_len > max_payload()) return 0;
    const size_t udp_len = kUdpHeaderLen + payload_len;
    if (!needs_fragments(udp_len)) return 1;
    if (tmpl_.df == DfPolicy::kDo) return 0;
    const size_t unit = fragment_data_unit();
    return (udp_len + unit - 1) / unit;
}

size_t UdpEncoder::max_frame_length() const {
    return kEthHeaderLen + effective_mtu(tmpl_.mtu);
}

Result<size_t> UdpEncoder::encode(std::span<const iovec> payload, uint32_t& ip_id,
                                  std::span<FrameSlot> out) const {
    const size_t payload_len = iovec_total_length(payload);
    if (payload_len > max_payload())
        return make_error(EMSGSIZE, "UDP payload of " + std::to_string(payload_len) +
                                        " bytes exceeds the maximum of " +
                                        std::to_string(max_payload()));
    const size_t udp_len = kUdpHeaderLen + payload_len;
    const bool fragmented = needs_fragments(udp_len);
    if (fragmented && tmpl_.df == DfPolicy::kDo)
        return make_error(EMSGSIZE, "UDP datagram of " + std::to_string(udp_len) +
                                        " bytes does not fit the MTU of " +
                                        std::to_string(tmpl_.mtu) + " and may not be fragmented");
    const size_t unit = fragmented ? fragment_data_unit() : udp_len;
    const size_t count = (udp_len + unit - 1) / unit;
    const size_t headers = kEthHeaderLen + ip_header_length(fragmented);
    if (out.size() < count)
        return make_error(ENOBUFS, "UDP datagram needs " + std::to_string(count) +
                                       " frames, only " + std::to_string(out.size()) + " given");
    for (size_t i = 0; i < count; ++i) {
        const size_t data_len = std::min(unit, udp_len - i * unit);
        if (out[i].buffer.size() < headers + data_len)
            return make_error(ENOBUFS, "frame buffer of " + std::to_string(out[i].buffer.size()) +
                                           " bytes is too small for a " +
                                           std::to_string(headers + data_len) + "-byte frame");
    }

    // IPv6 has no IP id: an identification exists only in fragment headers.
    const bool takes_id = !ipv6_ || fragmented;
    const uint32_t id = ip_id;
    if (takes_id) ++ip_id;
    uint16_t v4_flags = 0;
    if (!fragmented && tmpl_.df != DfPolicy::kDont) v4_flags = kIpv4DontFragment;

    IovecReader reader(payload);
    for (size_t i = 0; i < count; ++i) {
        const size_t offset = i * unit;
        const size_t data_len = std::min(unit, udp_len - offset);
        const bool more = offset + data_len < udp_len;
        uint8_t* p = out[i].buffer.data();
        if (ipv6_) {
            p = write_ethernet(p, tmpl_, packet::kEtherTypeIpv6);
            if (fragmented) {
                p = write_ipv6(p, tmpl_, static_cast<uint16_t>(kIpv6FragmentHeaderLen + data_len),
                               packet::kProtoIpv6Fragment);
                p = write_ipv6_fragment(p, offset, more, id);
            } else {
                p = write_ipv6(p, tmpl_, static_cast<uint16_t>(data_len), packet::kProtoUdp);
            }
        } else {
            p = write_ethernet(p, tmpl_, packet::kEtherTypeIpv4);
            const uint16_t flags_offset =
                fragmented ? static_cast<uint16_t>((more ? kIpv4MoreFragments : 0) | (offset / 8))
                           : v4_flags;
            p = write_ipv4(p, tmpl_, static_cast<uint16_t>(kIpv4HeaderLen + data_len),
                           static_cast<uint16_t>(id), flags_offset);
        }
        size_t data_left = data_len;
        if (i == 0) {
            store_be16(p, tmpl_.src_port);
            store_be16(p + 2, tmpl_.dst_port);
            store_be16(p + 4, static_cast<uint16_t>(udp_len));
            store_be16(p + 6, 0);  // summed as zero, filled in below
            p += kUdpHeaderLen;
            data_left -= kUdpHeaderLen;
        }
        (void)reader.read(std::span<uint8_t>(p, data_left));
        out[i].length = headers + data_len;
    }

    // RFC 768 / RFC 8200 §8.1: the checksum covers the pseudo-header and the
    // whole datagram, so it lands in the first fragment once all are written.
    uint32_t sum =
        ipv6_ ? packet::pseudo_header_sum_v6(tmpl_.src_addr, tmpl_.dst_addr, packet::kProtoUdp,
                                             static_cast<uint32_t>(udp_len))
              : packet::pseudo_header_sum_v4(ipv4_of(tmpl_.src_addr), ipv4_of(tmpl_.dst_addr),
                                             packet::kProtoUdp, static_cast<uint32_t>(udp_len));
    for (size_t i = 0; i < count; ++i)
        sum = packet::checksum_add(
            packet::Bytes(out[i].buffer.data() + headers, out[i].length - headers), sum);
    uint16_t checksum = static_cast<uint16_t>(~packet::checksum_fold(sum));
    // Zero on the wire means "no checksum" (forbidden over IPv6): send its
    // one's-complement twin.
    if (checksum == 0) checksum = 0xffff;
    store_be16(out[0].buffer.data() + headers + 6, checksum);
    return count;
}

}  // namespace xlane::udp
