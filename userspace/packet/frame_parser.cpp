// FrameParser: checks in the same order as bpf/xdp_steer.bpf.c so that the
// first failing rule, and hence the reported reason, is the same on both
// sides; the checksum checks come last because XDP never makes them.
#include "packet/frame_parser.h"

#include <cstring>

#include "packet/checksum.h"

namespace xlane::packet {
namespace {

constexpr uint16_t kIpv4FragmentMask = 0x3fff;  // MF | offset

// A bounds-checked read position, like the BPF header cursor.
class Cursor {
  public:
    explicit Cursor(Bytes frame) : frame_(frame) {}
    // Pointer to `len` bytes at the cursor and advance, or nullptr when the
    // frame is shorter.
    const uint8_t* take(size_t len) {
        if (frame_.size() - pos_ < len) return nullptr;
        const uint8_t* p = frame_.data() + pos_;
        pos_ += len;
        return p;
    }
    [[nodiscard]] size_t pos() const { return pos_; }
    [[nodiscard]] size_t remaining() const { return frame_.size() - pos_; }

  private:
    Bytes frame_;
    size_t pos_ = 0;
};

ParsedFrame fail(ParsedFrame& f, ParseError error) {
    f.error = error;
    return f;
}

// A checksum field that holds only the pseudo-header sum, folded and not
// complemented: what Linux leaves in a CHECKSUM_PARTIAL frame.
bool is_partial(uint16_t field, uint32_t pseudo_sum, const ParseOptions& options) {
    return options.accept_partial_checksums && field == checksum_fold(pseudo_sum);
}

}  // namespace

std::string_view to_string(ParseError error) {
    switch (error) {
        case ParseError::kNone:
            return "ok";
        case ParseError::kTruncatedEthernet:
            return "truncated Ethernet header";
        case ParseError::kTruncatedVlan:
            return "truncated VLAN tag";
        case ParseError::kNotIp:
            return "not IPv4/IPv6";
        case ParseError::kTruncatedIpHeader:
            return "truncated IP header";
        case ParseError::kBadIpVersion:
            return "IP version does not match the ethertype";
        case ParseError::kBadIpv4HeaderLength:
            return "IPv4 header length below 20 bytes";
        case ParseError::kBadIpLength:
            return "IP length inconsistent with the frame";
        case ParseError::kFragment:
            return "IP fragment";
        case ParseError::kIpv6ExtensionHeader:
            return "IPv6 extension header";
        case ParseError::kNotUdpTcp:
            return "not UDP/TCP";
        case ParseError::kTruncatedL4Header:
            return "truncated UDP/TCP header";
        case ParseError::kBadUdpLength:
            return "UDP length inconsistent with the IP payload";
        case ParseError::kBadTcpDataOffset:
            return "TCP data offset inconsistent";
        case ParseError::kBadIpv4Checksum:
            return "bad IPv4 header checksum";
        case ParseError::kBadL4Checksum:
            return "bad UDP/TCP checksum";
    }
    return "unknown parse error";
}

xlane_xdp_reason xdp_reason_for(ParseError error) {
    switch (error) {
        case ParseError::kNotIp:
            return XLANE_REASON_PASS_NOT_IP;
        case ParseError::kFragment:
            return XLANE_REASON_PASS_FRAGMENT;
        case ParseError::kIpv6ExtensionHeader:
            return XLANE_REASON_PASS_IPV6_EXTHDR;
        case ParseError::kNotUdpTcp:
            return XLANE_REASON_PASS_NOT_L4;
        case ParseError::kTruncatedEthernet:
        case ParseError::kTruncatedVlan:
        case ParseError::kTruncatedIpHeader:
        case ParseError::kBadIpVersion:
        case ParseError::kBadIpv4HeaderLength:
        case ParseError::kBadIpLength:
        case ParseError::kTruncatedL4Header:
        case ParseError::kBadUdpLength:
        case ParseError::kBadTcpDataOffset:
            return XLANE_REASON_PASS_MALFORMED;
        case ParseError::kNone:
        case ParseError::kBadIpv4Checksum:
        case ParseError::kBadL4Checksum:
            return XLANE_REASON_PASS_NO_MATCH;
    }
    return XLANE_REASON_PASS_MALFORMED;
}

ParsedFrame parse_frame(Bytes frame, ParseOptions options) {
    ParsedFrame f;
    Cursor c(frame);

    const uint8_t* eth = c.take(kEthHeaderLen);
    if (eth == nullptr) return fail(f, ParseError::kTruncatedEthernet);
    uint16_t type = load_be16(eth + 12);
    // Up to two tags (802.1Q, or QinQ S-tag + C-tag); a third is not parsed
    // and the frame goes to the kernel like any non-IP frame.
    while (f.vlan_count < 2 && (type == kEtherTypeVlan || type == kEtherTypeQinQ)) {
        const uint8_t* tag = c.take(kVlanTagLen);
        if (tag == nullptr) return fail(f, ParseError::kTruncatedVlan);
        f.vlan_ids[f.vlan_count++] = load_be16(tag) & 0x0fff;
        type = load_be16(tag + 2);
    }
    f.ethertype = type;
    f.l3_offset = c.pos();

    size_t l3_payload = 0;    // bytes the IP header says follow it
    Ipv4Addr src4{}, dst4{};  // IPv4 only, for the pseudo-header
    if (type == kEtherTypeIpv4) {
        const uint8_t* ip = c.take(kIpv4HeaderLen);
        if (ip == nullptr) return fail(f, ParseError::kTruncatedIpHeader);
        if ((ip[0] >> 4) != 4) return fail(f, ParseError::kBadIpVersion);
        const size_t header_len = size_t{ip[0] & 0x0fu} * 4;
        if (header_len < kIpv4HeaderLen) return fail(f, ParseError::kBadIpv4HeaderLength);
        const size_t total_len = load_be16(ip + 2);
        if (total_len < header_len || total_len > frame.size() - f.l3_offset)
            return fail(f, ParseError::kBadIpLength);
        // Options are skipped; total_len >= header_len keeps them in the frame.
        if (c.take(header_len - kIpv4HeaderLen) == nullptr)
            return fail(f, ParseError::kBadIpLength);
        if (load_be16(ip + 6) & kIpv4FragmentMask) return fail(f, ParseError::kFragment);
        f.protocol = ip[9];
        if (f.protocol != kProtoUdp && f.protocol != kProtoTcp)
            return fail(f, ParseError::kNotUdpTcp);
        f.ip_version = 4;
        f.ttl = ip[8];
        std::memcpy(src4.data(), ip + 12, 4);
        std::memcpy(dst4.data(), ip + 16, 4);
        f.src_addr = ipv4_mapped(src4);
        f.dst_addr = ipv4_mapped(dst4);
        l3_payload = total_len - header_len;
        if (options.verify_checksums && !checksum_ok(Bytes(ip, header_len))) {
            // Reported after the L4 checks (XDP order); remember it.
            f.error = ParseError::kBadIpv4Checksum;
        }
    } else if (type == kEtherTypeIpv6) {
        const uint8_t* ip6 = c.take(kIpv6HeaderLen);
        if (ip6 == nullptr) return fail(f, ParseError::kTruncatedIpHeader);
        if ((ip6[0] >> 4) != 6) return fail(f, ParseError::kBadIpVersion);
        const size_t payload_len = load_be16(ip6 + 4);
        if (payload_len > c.remaining()) return fail(f, ParseError::kBadIpLength);
        const uint8_t next = ip6[6];
        if (next == kProtoIpv6Fragment) return fail(f, ParseError::kFragment);
        if (is_ipv6_extension_header(next)) return fail(f, ParseError::kIpv6ExtensionHeader);
        if (next != kProtoUdp && next != kProtoTcp) return fail(f, ParseError::kNotUdpTcp);
        f.protocol = next;
        f.ip_version = 6;
        f.ttl = ip6[7];
        std::memcpy(f.src_addr.data(), ip6 + 8, 16);
        std::memcpy(f.dst_addr.data(), ip6 + 24, 16);
        l3_payload = payload_len;
    } else {
        return fail(f, ParseError::kNotIp);
    }

    f.l4_offset = c.pos();
    // UDP sums over its own length field's span, TCP over the IP payload.
    auto pseudo_sum = [&](uint32_t l4_length) {
        return f.is_ipv4() ? pseudo_header_sum_v4(src4, dst4, f.protocol, l4_length)
                           : pseudo_header_sum_v6(f.src_addr, f.dst_addr, f.protocol, l4_length);
    };
    const ParseError ip_checksum_error = f.error;
    if (f.protocol == kProtoUdp) {
        const uint8_t* udp = c.take(kUdpHeaderLen);
        if (udp == nullptr) return fail(f, ParseError::kTruncatedL4Header);
        const size_t udp_len = load_be16(udp + 4);
        if (udp_len < kUdpHeaderLen || udp_len > l3_payload)
            return fail(f, ParseError::kBadUdpLength);
        f.src_port = load_be16(udp);
        f.dst_port = load_be16(udp + 2);
        f.payload_offset = c.pos();
        f.payload_length = udp_len - kUdpHeaderLen;
        if (options.verify_checksums && ip_checksum_error == ParseError::kNone) {
            const uint16_t field = load_be16(udp + 6);
            const uint32_t pseudo = pseudo_sum(static_cast<uint32_t>(udp_len));
            // Zero means "not computed": allowed over IPv4 only (RFC 8200 §8.1).
            const bool skipped = field == 0 && f.is_ipv4();
            if (!skipped && (field == 0 || !checksum_ok(Bytes(udp, udp_len), pseudo))) {
                if (!is_partial(field, pseudo, options)) return fail(f, ParseError::kBadL4Checksum);
                f.partial_checksum = true;
            }
        }
    } else {
        const uint8_t* tcp = c.take(kTcpHeaderLen);
        if (tcp == nullptr) return fail(f, ParseError::kTruncatedL4Header);
        const size_t data_offset = static_cast<size_t>(tcp[12] >> 4) * 4;
        if (data_offset < kTcpHeaderLen || data_offset > l3_payload)
            return fail(f, ParseError::kBadTcpDataOffset);
        f.src_port = load_be16(tcp);
        f.dst_port = load_be16(tcp + 2);
        f.tcp_seq = load_be32(tcp + 4);
        f.tcp_ack = load_be32(tcp + 8);
        f.tcp_flags = tcp[13];
        f.tcp_window = load_be16(tcp + 14);
        f.payload_offset = f.l4_offset + data_offset;
        f.payload_length = l3_payload - data_offset;
        if (options.verify_checksums && ip_checksum_error == ParseError::kNone) {
            const uint32_t pseudo = pseudo_sum(static_cast<uint32_t>(l3_payload));
            if (!checksum_ok(Bytes(tcp, l3_payload), pseudo)) {
                if (!is_partial(load_be16(tcp + 16), pseudo, options))
                    return fail(f, ParseError::kBadL4Checksum);
                f.partial_checksum = true;
            }
        }
    }
    return f;
}

xlane_flow_key flow_key_of(const ParsedFrame& frame) {
    xlane_flow_key key{};
    std::memcpy(key.local_addr.bytes, frame.dst_addr.data(), 16);
    std::memcpy(key.remote_addr.bytes, frame.src_addr.data(), 16);
    // Stored in network order, as the program reads them from the frame.
    const uint8_t local[2] = {static_cast<uint8_t>(frame.dst_port >> 8),
                              static_cast<uint8_t>(frame.dst_port)};
    const uint8_t remote[2] = {static_cast<uint8_t>(frame.src_port >> 8),
                               static_cast<uint8_t>(frame.src_port)};
    std::memcpy(&key.local_port_be, local, 2);
    std::memcpy(&key.remote_port_be, remote, 2);
    key.proto = frame.protocol;
    return key;
}

}  // namespace xlane::packet
