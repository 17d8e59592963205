// Fragment fields of IPv4 (RFC 791) and IPv6 (RFC 8200 §4.5) fragments. The
// parser already checked that the headers and the IP length lie inside the frame.
#include "udp/fragment_reader.h"

#include <cstring>

#include "packet/checksum.h"

namespace xlane::udp {

using packet::load_be16;
using packet::load_be32;

FragmentReadResult read_fragment(packet::Bytes frame, const packet::ParsedFrame& parsed) {
    FragmentReadResult result;
    if (parsed.error != packet::ParseError::kFragment) return result;
    const uint8_t* ip = frame.data() + parsed.l3_offset;
    FragmentInfo f;
    if (parsed.ethertype == packet::kEtherTypeIpv4) {
        const size_t header_len = size_t{ip[0] & 0x0fu} * 4;
        const size_t total_len = load_be16(ip + 2);
        if (!packet::checksum_ok(packet::Bytes(ip, header_len))) {
            result.error = FragmentReadError::kBadIpv4Checksum;
            return result;
        }
        const uint16_t flags_offset = load_be16(ip + 6);
        f.ip_version = 4;
        f.id = load_be16(ip + 4);
        f.protocol = ip[9];
        f.offset = size_t{flags_offset & 0x1fffu} * 8;
        f.more = (flags_offset & 0x2000) != 0;
        packet::Ipv4Addr src, dst;
        std::memcpy(src.data(), ip + 12, 4);
        std::memcpy(dst.data(), ip + 16, 4);
        f.src_addr = packet::ipv4_mapped(src);
        f.dst_addr = packet::ipv4_mapped(dst);
        f.header_length = parsed.l3_offset + header_len;
        f.data = frame.subspan(f.header_length, total_len - header_len);
    } else {
        const size_t payload_len = load_be16(ip + 4);
        if (payload_len < packet::kIpv6FragmentHeaderLen) {
            result.error = FragmentReadError::kTruncatedFragmentHeader;
            return result;
        }
        const uint8_t* frag = ip + packet::kIpv6HeaderLen;
        const uint16_t offset_flags = load_be16(frag + 2);
        f.ip_version = 6;
        f.protocol = frag[0];
        f.offset = offset_flags & 0xfff8u;  // 13-bit offset in units of 8, already shifted
        f.more = (offset_flags & 1) != 0;
        f.id = load_be32(frag + 4);
        std::memcpy(f.src_addr.data(), ip + 8, 16);
        std::memcpy(f.dst_addr.data(), ip + 24, 16);
        f.header_length = parsed.l3_offset + packet::kIpv6HeaderLen;
        f.data = frame.subspan(f.header_length + packet::kIpv6FragmentHeaderLen,
                               payload_len - packet::kIpv6FragmentHeaderLen);
    }
    result.fragment = f;
    return result;
}

}  // namespace xlane::udp
