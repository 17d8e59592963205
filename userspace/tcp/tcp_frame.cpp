// Ethernet + IP + TCP: the segment codec writes the TCP part (its checksum
// covers the pseudo-header); the IP header and its checksum go around it.
#include "tcp/tcp_frame.h"

#include <cstring>

#include "packet/checksum.h"

namespace xlane::tcp {
namespace {

size_t ip_header_size(const OutSegment& segment) {
    return is_ipv4_mapped(segment.src_addr) ? packet::kIpv4HeaderLen : packet::kIpv6HeaderLen;
}

}  // namespace

size_t encoded_frame_size(const OutSegment& segment) {
    return packet::kEthHeaderLen + ip_header_size(segment) +
           encoded_segment_size(segment.options, segment.payload_size());
}

size_t encode_frame(const OutSegment& segment, const FrameAddressing& addressing, uint16_t ip_id,
                    std::span<uint8_t> out) {
    return encode_frame(segment, PayloadParts{segment.payload, {}}, addressing, ip_id, out);
}

size_t encode_frame(const OutSegment& segment, PayloadParts payload,
                    const FrameAddressing& addressing, uint16_t ip_id, std::span<uint8_t> out) {
    if (payload.size() != segment.payload_size()) return 0;
    const bool v4 = is_ipv4_mapped(segment.src_addr);
    if (v4 != is_ipv4_mapped(segment.dst_addr)) return 0;
    const size_t total = encoded_frame_size(segment);
    if (total > out.size()) return 0;
    uint8_t* eth = out.data();
    std::memcpy(eth, addressing.dst_mac.data(), 6);
    std::memcpy(eth + 6, addressing.src_mac.data(), 6);
    packet::store_be16(eth + 12, v4 ? packet::kEtherTypeIpv4 : packet::kEtherTypeIpv6);
    uint8_t* ip = eth + packet::kEthHeaderLen;
    const size_t l4_offset = packet::kEthHeaderLen + ip_header_size(segment);
    const size_t l4_len = total - l4_offset;
    const size_t written =
        encode_segment(segment.header, segment.options, payload, segment.src_addr,
                       segment.dst_addr, out.subspan(l4_offset, l4_len));
    if (written != l4_len) return 0;
    if (v4) {
        ip[0] = 0x45;
        ip[1] = addressing.tos;
        packet::store_be16(ip + 2, static_cast<uint16_t>(packet::kIpv4HeaderLen + l4_len));
        packet::store_be16(ip + 4, ip_id);
        packet::store_be16(ip + 6, 0x4000);  // DF
        ip[8] = addressing.ttl;
        ip[9] = packet::kProtoTcp;
        packet::store_be16(ip + 10, 0);
        std::memcpy(ip + 12, segment.src_addr.data() + 12, 4);
        std::memcpy(ip + 16, segment.dst_addr.data() + 12, 4);
        packet::store_be16(ip + 10, packet::internet_checksum(
                                        std::span<const uint8_t>(ip, packet::kIpv4HeaderLen)));
    } else {
        packet::store_be32(ip, 0x60000000u | (uint32_t{addressing.tos} << 20));
        packet::store_be16(ip + 4, static_cast<uint16_t>(l4_len));
        ip[6] = packet::kProtoTcp;
        ip[7] = addressing.ttl;
        std::memcpy(ip + 8, segment.src_addr.data(), 16);
        std::memcpy(ip + 24, segment.dst_addr.data(), 16);
    }
    return total;
}

}  // namespace xlane::tcp
