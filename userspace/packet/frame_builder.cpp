// FrameBuilder: layers are serialised in order, then derived fields (types,
// lengths, checksums) are filled in from the innermost layer outwards, so an
// outer checksum always covers the final inner bytes.
#include "packet/frame_builder.h"

#include <cstdio>
#include <cstdlib>
#include <type_traits>

#include "packet/checksum.h"

namespace xlane::packet {
namespace {

// Ethertype used when nothing identifiable follows an Ethernet header
// (IEEE 802 local experimental ethertype 1).
constexpr uint16_t kEtherTypeExperimental = 0x88b5;
// IP protocol used when raw payload follows an IP header (RFC 3692 experimental).
constexpr uint8_t kProtoExperimental = 253;

void append(std::vector<uint8_t>& out, Bytes bytes) {
    out.insert(out.end(), bytes.begin(), bytes.end());
}
void append16(std::vector<uint8_t>& out, uint16_t v) {
    out.push_back(static_cast<uint8_t>(v >> 8));
    out.push_back(static_cast<uint8_t>(v));
}
void append32(std::vector<uint8_t>& out, uint32_t v) {
    append16(out, static_cast<uint16_t>(v >> 16));
    append16(out, static_cast<uint16_t>(v));
}
// Options are padded with zero bytes (end-of-option-list for IPv4 and TCP)
// to the 4-byte multiple the header length field can express.
std::vector<uint8_t> pad_options(Bytes options) {
    std::vector<uint8_t> padded(options.begin(), options.end());
    while (padded.size() % 4 != 0) padded.push_back(0);
    return padded;
}
// A checksum field value that no longer verifies (and is not the one's
// complement twin 0x0000/0xffff of the right one).
uint16_t corrupted(uint16_t checksum) {
    return checksum ^ 0x0101;
}

[[noreturn]] void misuse(const char* what) {
    std::fprintf(stderr, "FrameBuilder misuse: %s\n", what);
    std::abort();
}

}  // namespace

template <typename T>
T& FrameBuilder::last() {
    for (auto it = layers_.rbegin(); it != layers_.rend(); ++it)
        if (auto* layer = std::get_if<T>(&*it)) return *layer;
    misuse("a setter was called before the layer it modifies");
}

FrameBuilder::Layer* FrameBuilder::last_ip() {
    for (auto it = layers_.rbegin(); it != layers_.rend(); ++it)
        if (std::holds_alternative<Ipv4>(*it) || std::holds_alternative<Ipv6>(*it)) return &*it;
    return nullptr;
}

FrameBuilder& FrameBuilder::eth(const MacAddr& src, const MacAddr& dst) {
    layers_.emplace_back(std::in_place_type<Eth>, Eth{src, dst, std::nullopt});
    return *this;
}

FrameBuilder& FrameBuilder::vlan(uint16_t id, uint16_t tpid, uint8_t priority) {
    layers_.emplace_back(std::in_place_type<Vlan>, Vlan{tpid, id, priority, std::nullopt});
    return *this;
}

FrameBuilder& FrameBuilder::ethertype(uint16_t type) {
    for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
        if (auto* e = std::get_if<Eth>(&*it)) {
            e->type = type;
            return *this;
        }
        if (auto* v = std::get_if<Vlan>(&*it)) {
            v->type = type;
            return *this;
        }
    }
    misuse("ethertype() before eth()");
}

FrameBuilder& FrameBuilder::arp(uint16_t op, const MacAddr& sender_mac, const Ipv4Addr& sender_ip,
                                const MacAddr& target_mac, const Ipv4Addr& target_ip) {
    layers_.emplace_back(std::in_place_type<Arp>,
                         Arp{op, sender_mac, target_mac, sender_ip, target_ip});
    return *this;
}

FrameBuilder& FrameBuilder::ipv4(const Ipv4Addr& src, const Ipv4Addr& dst) {
    Ipv4 ip{};
    ip.src = src;
    ip.dst = dst;
    layers_.emplace_back(std::in_place_type<Ipv4>, std::move(ip));
    return *this;
}

FrameBuilder& FrameBuilder::ipv4_options(Bytes options) {
    last<Ipv4>().options = pad_options(options);
    return *this;
}

FrameBuilder& FrameBuilder::ipv4_fragment(uint16_t offset_units, bool more_fragments) {
    auto& ip = last<Ipv4>();
    ip.frag_off = static_cast<uint16_t>((ip.frag_off & 0x4000) | (more_fragments ? 0x2000 : 0) |
                                        (offset_units & 0x1fff));
    return *this;
}

FrameBuilder& FrameBuilder::ipv4_dont_fragment() {
    last<Ipv4>().frag_off |= 0x4000;
    return *this;
}

FrameBuilder& FrameBuilder::ipv4_id(uint16_t id) {
    last<Ipv4>().id = id;
    return *this;
}

FrameBuilder& FrameBuilder::ipv6(const Ipv6Addr& src, const Ipv6Addr& dst) {
    Ipv6 ip{};
    ip.src = src;
    ip.dst = dst;
    layers_.emplace_back(std::in_place_type<Ipv6>, ip);
    return *this;
}

FrameBuilder& FrameBuilder::ipv6_extension(uint8_t type, uint16_t length) {
    if (length < 8 || length % 8 != 0 || length > 2048)
        misuse("IPv6 extension length must be a multiple of 8 in [8, 2048]");
    layers_.emplace_back(std::in_place_type<Ipv6Ext>, Ipv6Ext{type, length, 0, 0, std::nullopt});
    return *this;
}

FrameBuilder& FrameBuilder::ipv6_fragment(uint16_t offset_units, bool more_fragments,
                                          uint32_t identification) {
    const auto frag_off =
        static_cast<uint16_t>(((offset_units & 0x1fff) << 3) | (more_fragments ? 1 : 0));
    layers_.emplace_back(std::in_place_type<Ipv6Ext>,
                         Ipv6Ext{kProtoIpv6Fragment, static_cast<uint16_t>(kIpv6FragmentHeaderLen),
                                 frag_off, identification, std::nullopt});
    return *this;
}

FrameBuilder& FrameBuilder::ttl(uint8_t ttl) {
    Layer* ip = last_ip();
    if (ip == nullptr) misuse("ttl() before ipv4()/ipv6()");
    if (auto* v4 = std::get_if<Ipv4>(ip)) v4->ttl = ttl;
    if (auto* v6 = std::get_if<Ipv6>(ip)) v6->hop_limit = ttl;
    return *this;
}

FrameBuilder& FrameBuilder::ip_protocol(uint8_t protocol) {
    Layer* ip = last_ip();
    if (ip == nullptr) misuse("ip_protocol() before ipv4()/ipv6()");
    if (auto* v4 = std::get_if<Ipv4>(ip)) v4->protocol = protocol;
    if (auto* v6 = std::get_if<Ipv6>(ip)) v6->next_header = protocol;
    return *this;
}

FrameBuilder& FrameBuilder::udp(uint16_t src_port, uint16_t dst_port) {
    layers_.emplace_back(std::in_place_type<Udp>,
                         Udp{src_port, dst_port, std::nullopt, false, false});
    return *this;
}

FrameBuilder& FrameBuilder::tcp(uint16_t src_port, uint16_t dst_port, uint8_t flags, uint32_t seq,
                                uint32_t ack) {
    Tcp tcp{};
    tcp.sport = src_port;
    tcp.dport = dst_port;
    tcp.flags = flags;
    tcp.seq = seq;
    tcp.ack = ack;
    layers_.emplace_back(std::in_place_type<Tcp>, std::move(tcp));
    return *this;
}

FrameBuilder& FrameBuilder::tcp_window(uint16_t window) {
    last<Tcp>().window = window;
    return *this;
}

FrameBuilder& FrameBuilder::tcp_options(Bytes options) {
    last<Tcp>().options = pad_options(options);
    return *this;
}

FrameBuilder& FrameBuilder::icmp(uint8_t type, uint8_t code, uint32_t rest) {
    layers_.emplace_back(std::in_place_type<Icmp>, Icmp{type, code, rest, false});
    return *this;
}

FrameBuilder& FrameBuilder::payload(Bytes bytes) {
    layers_.emplace_back(std::in_place_type<Payload>,
                         Payload{std::vector<uint8_t>(bytes.begin(), bytes.end())});
    return *this;
}

FrameBuilder& FrameBuilder::payload_size(size_t size) {
    Payload p;
    p.bytes.resize(size);
    for (size_t i = 0; i < size; ++i) p.bytes[i] = static_cast<uint8_t>(i);
    layers_.emplace_back(std::in_place_type<Payload>, std::move(p));
    return *this;
}

FrameBuilder& FrameBuilder::ip_version(uint8_t version) {
    Layer* ip = last_ip();
    if (ip == nullptr) misuse("ip_version() before ipv4()/ipv6()");
    if (auto* v4 = std::get_if<Ipv4>(ip)) v4->version = version;
    if (auto* v6 = std::get_if<Ipv6>(ip)) v6->version = version;
    return *this;
}

FrameBuilder& FrameBuilder::ipv4_ihl(uint8_t ihl) {
    last<Ipv4>().ihl = ihl;
    return *this;
}

FrameBuilder& FrameBuilder::ipv4_total_length(uint16_t length) {
    last<Ipv4>().total_length = length;
    return *this;
}

FrameBuilder& FrameBuilder::ipv6_payload_length(uint16_t length) {
    last<Ipv6>().payload_length = length;
    return *this;
}

FrameBuilder& FrameBuilder::udp_length(uint16_t length) {
    last<Udp>().length = length;
    return *this;
}

FrameBuilder& FrameBuilder::tcp_data_offset(uint8_t words) {
    last<Tcp>().data_offset = words;
    return *this;
}

FrameBuilder& FrameBuilder::udp_zero_checksum() {
    last<Udp>().zero_checksum = true;
    return *this;
}

FrameBuilder& FrameBuilder::corrupt_ip_checksum() {
    last<Ipv4>().corrupt_checksum = true;
    return *this;
}

FrameBuilder& FrameBuilder::corrupt_l4_checksum() {
    for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
        if (auto* u = std::get_if<Udp>(&*it))
            u->corrupt_checksum = true;
        else if (auto* t = std::get_if<Tcp>(&*it))
            t->corrupt_checksum = true;
        else if (auto* i = std::get_if<Icmp>(&*it))
            i->corrupt_checksum = true;
        else
            continue;
        return *this;
    }
    misuse("corrupt_l4_checksum() before udp()/tcp()/icmp()");
}

FrameBuilder& FrameBuilder::pad_to(size_t size) {
    pad_to_ = size;
    return *this;
}

FrameBuilder& FrameBuilder::truncate(size_t size) {
    truncate_ = size;
    return *this;
}

std::vector<uint8_t> FrameBuilder::build() const {
    std::vector<uint8_t> out;
    std::vector<size_t> start(layers_.size());

    // Type field of a header, derived from the layer that follows it.
    auto ethertype_of_next = [&](size_t i) -> uint16_t {
        if (i + 1 >= layers_.size()) return kEtherTypeExperimental;
        const Layer& next = layers_[i + 1];
        if (auto* v = std::get_if<Vlan>(&next)) return v->tpid;
        if (std::holds_alternative<Ipv4>(next)) return kEtherTypeIpv4;
        if (std::holds_alternative<Ipv6>(next)) return kEtherTypeIpv6;
        if (std::holds_alternative<Arp>(next)) return kEtherTypeArp;
        return kEtherTypeExperimental;
    };
    auto protocol_of_next = [&](size_t i, bool v6) -> uint8_t {
        if (i + 1 >= layers_.size()) return v6 ? kProtoIpv6NoNext : kProtoExperimental;
        const Layer& next = layers_[i + 1];
        if (std::holds_alternative<Udp>(next)) return kProtoUdp;
        if (std::holds_alternative<Tcp>(next)) return kProtoTcp;
        if (std::holds_alternative<Icmp>(next)) return v6 ? kProtoIcmpv6 : kProtoIcmp;
        if (auto* ext = std::get_if<Ipv6Ext>(&next)) return ext->type;
        if (std::holds_alternative<Ipv4>(next)) return 4;   // IP in IP
        if (std::holds_alternative<Ipv6>(next)) return 41;  // IPv6 in IP
        return kProtoExperimental;
    };

    // Pass 1: serialise, derived fields left zero.
    for (size_t i = 0; i < layers_.size(); ++i) {
        start[i] = out.size();
        std::visit(
            [&](const auto& l) {
                using T = std::decay_t<decltype(l)>;
                if constexpr (std::is_same_v<T, Eth>) {
                    append(out, l.dst);
                    append(out, l.src);
                    append16(out, l.type.value_or(ethertype_of_next(i)));
                } else if constexpr (std::is_same_v<T, Vlan>) {
                    append16(out, static_cast<uint16_t>((l.priority << 13) | (l.id & 0x0fff)));
                    append16(out, l.type.value_or(ethertype_of_next(i)));
                } else if constexpr (std::is_same_v<T, Arp>) {
                    append16(out, 1);  // Ethernet
                    append16(out, kEtherTypeIpv4);
                    out.push_back(6);
                    out.push_back(4);
                    append16(out, l.op);
                    append(out, l.sha);
                    append(out, l.spa);
                    append(out, l.tha);
                    append(out, l.tpa);
                } else if constexpr (std::is_same_v<T, Ipv4>) {
                    const size_t words = (kIpv4HeaderLen + l.options.size()) / 4;
                    out.push_back(static_cast<uint8_t>((l.version.value_or(4) << 4) |
                                                       (l.ihl.value_or(words) & 0x0f)));
                    out.push_back(0);  // DSCP/ECN
                    append16(out, 0);  // total length: pass 2
                    append16(out, l.id);
                    append16(out, l.frag_off);
                    out.push_back(l.ttl);
                    out.push_back(l.protocol.value_or(protocol_of_next(i, false)));
                    append16(out, 0);  // checksum: pass 2
                    append(out, l.src);
                    append(out, l.dst);
                    append(out, l.options);
                } else if constexpr (std::is_same_v<T, Ipv6>) {
                    append32(out, uint32_t{l.version.value_or(6)} << 28);
                    append16(out, 0);  // payload length: pass 2
                    out.push_back(l.next_header.value_or(protocol_of_next(i, true)));
                    out.push_back(l.hop_limit);
                    append(out, l.src);
                    append(out, l.dst);
                } else if constexpr (std::is_same_v<T, Ipv6Ext>) {
                    out.push_back(l.next_header.value_or(protocol_of_next(i, true)));
                    if (l.type == kProtoIpv6Fragment) {
                        out.push_back(0);
                        append16(out, l.frag_off);
                        append32(out, l.identification);
                    } else {
                        out.push_back(static_cast<uint8_t>(l.length / 8 - 1));
                        out.resize(out.size() + l.length - 2, 0);
                    }
                } else if constexpr (std::is_same_v<T, Udp>) {
                    append16(out, l.sport);
                    append16(out, l.dport);
                    append16(out, 0);  // length: pass 2
                    append16(out, 0);  // checksum: pass 2
                } else if constexpr (std::is_same_v<T, Tcp>) {
                    const size_t words = (kTcpHeaderLen + l.options.size()) / 4;
                    append16(out, l.sport);
                    append16(out, l.dport);
                    append32(out, l.seq);
                    append32(out, l.ack);
                    out.push_back(static_cast<uint8_t>(l.data_offset.value_or(words) << 4));
                    out.push_back(l.flags);
                    append16(out, l.window);
                    append16(out, 0);  // checksum: pass 2
                    append16(out, 0);  // urgent pointer
                    append(out, l.options);
                } else if constexpr (std::is_same_v<T, Icmp>) {
                    out.push_back(l.type);
                    out.push_back(l.code);
                    append16(out, 0);  // checksum: pass 2
                    append32(out, l.rest);
                } else if constexpr (std::is_same_v<T, Payload>) {
                    append(out, l.bytes);
                }
            },
            layers_[i]);
    }

    // Pass 2, innermost first: lengths run to the end of the built bytes;
    // L4 checksums use the nearest enclosing IP header's pseudo-header.
    const size_t end = out.size();
    auto enclosing_ip = [&](size_t i) -> const Layer* {
        for (size_t j = i; j-- > 0;)
            if (std::holds_alternative<Ipv4>(layers_[j]) ||
                std::holds_alternative<Ipv6>(layers_[j]))
                return &layers_[j];
        return nullptr;
    };
    auto pseudo_sum = [&](size_t i, uint8_t protocol, uint32_t length) -> uint32_t {
        const Layer* ip = enclosing_ip(i);
        if (ip == nullptr) return 0;
        if (auto* v4 = std::get_if<Ipv4>(ip))
            return pseudo_header_sum_v4(v4->src, v4->dst, protocol, length);
        const auto& v6 = std::get<Ipv6>(*ip);
        return pseudo_header_sum_v6(v6.src, v6.dst, protocol, length);
    };
    for (size_t i = layers_.size(); i-- > 0;) {
        uint8_t* p = out.data() + start[i];
        const Bytes covered(p, end - start[i]);
        if (auto* u = std::get_if<Udp>(&layers_[i])) {
            const uint16_t length = u->length.value_or(static_cast<uint16_t>(covered.size()));
            store_be16(p + 4, length);
            uint16_t sum = internet_checksum(covered, pseudo_sum(i, kProtoUdp, length));
            if (sum == 0) sum = 0xffff;  // RFC 768: 0 means "no checksum"
            if (u->zero_checksum) sum = 0;
            if (u->corrupt_checksum) sum = corrupted(sum);
            store_be16(p + 6, sum);
        } else if (auto* t = std::get_if<Tcp>(&layers_[i])) {
            uint16_t sum = internet_checksum(
                covered, pseudo_sum(i, kProtoTcp, static_cast<uint32_t>(covered.size())));
            if (t->corrupt_checksum) sum = corrupted(sum);
            store_be16(p + 16, sum);
        } else if (auto* c = std::get_if<Icmp>(&layers_[i])) {
            const Layer* ip = enclosing_ip(i);
            const bool v6 = ip != nullptr && std::holds_alternative<Ipv6>(*ip);
            const uint32_t initial =
                v6 ? pseudo_sum(i, kProtoIcmpv6, static_cast<uint32_t>(covered.size())) : 0;
            uint16_t sum = internet_checksum(covered, initial);
            if (c->corrupt_checksum) sum = corrupted(sum);
            store_be16(p + 2, sum);
        } else if (auto* v4 = std::get_if<Ipv4>(&layers_[i])) {
            store_be16(p + 2, v4->total_length.value_or(static_cast<uint16_t>(covered.size())));
            const size_t header_len = kIpv4HeaderLen + v4->options.size();
            uint16_t sum = internet_checksum(Bytes(p, header_len));
            if (v4->corrupt_checksum) sum = corrupted(sum);
            store_be16(p + 10, sum);
        } else if (auto* v6 = std::get_if<Ipv6>(&layers_[i])) {
            store_be16(p + 4, v6->payload_length.value_or(
                                  static_cast<uint16_t>(covered.size() - kIpv6HeaderLen)));
        }
    }

    if (pad_to_ && out.size() < *pad_to_) out.resize(*pad_to_, 0);
    if (truncate_ && out.size() > *truncate_) out.resize(*truncate_);
    return out;
}

}  // namespace xlane::packet
