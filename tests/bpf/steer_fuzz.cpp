// Random frame generation and the reference hit check (see steer_fuzz.h).
#include "steer_fuzz.h"

#include <algorithm>
#include <cstring>

#include "packet/frame_builder.h"

namespace xlane::test {
namespace {

using namespace packet;

const MacAddr kPeerMac = {0x02, 0, 0, 0, 0, 0x01};
const MacAddr kHostMac = {0x02, 0, 0, 0, 0, 0x02};

bool chance(std::mt19937& rng, unsigned percent) {
    return rng() % 100 < percent;
}

uint16_t from_be(uint16_t be) {
    uint8_t b[2];
    std::memcpy(b, &be, 2);
    return static_cast<uint16_t>((b[0] << 8) | b[1]);
}

bool is_mapped_v4(const xlane_addr& a) {
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(a.bytes, prefix, 12) == 0;
}

bool is_wildcard(const xlane_addr& a) {
    static const uint8_t zero[16] = {};
    return std::memcmp(a.bytes, zero, 16) == 0 ||
           (is_mapped_v4(a) && std::memcmp(a.bytes + 12, zero, 4) == 0);
}

// An address in the tests' ranges: 198.18.0.0/15 or fd00:198:18::/64.
Ipv6Addr random_address(std::mt19937& rng, bool v4) {
    if (v4)
        return ipv4_mapped({198, static_cast<uint8_t>(18 + rng() % 2),
                            static_cast<uint8_t>(rng() % 4), static_cast<uint8_t>(rng() % 8)});
    Ipv6Addr a = *parse_ipv6("fd00:198:18::");
    a[15] = static_cast<uint8_t>(rng() % 8);
    return a;
}

Ipv4Addr v4_of(const Ipv6Addr& mapped) {
    return {mapped[12], mapped[13], mapped[14], mapped[15]};
}

Ipv6Addr to_array(const xlane_addr& a) {
    Ipv6Addr out;
    std::memcpy(out.data(), a.bytes, 16);
    return out;
}

uint16_t random_port(std::mt19937& rng) {
    return static_cast<uint16_t>(rng());
}

}  // namespace

std::vector<uint8_t> random_bytes(std::mt19937& rng, size_t max_length) {
    std::vector<uint8_t> out(rng() % (max_length + 1));
    for (auto& b : out) b = static_cast<uint8_t>(rng());
    return out;
}

std::vector<uint8_t> random_steer_frame(std::mt19937& rng, const SteeringModel& model) {
    // Where the frame goes: a flow (both ends fixed), a bind, or anywhere.
    bool v4 = chance(rng, 50);
    uint8_t proto = chance(rng, 50) ? kProtoUdp : kProtoTcp;
    Ipv6Addr dst = random_address(rng, v4), src = random_address(rng, v4);
    uint16_t dst_port = random_port(rng), src_port = random_port(rng);
    const unsigned aim = rng() % 10;
    if (aim < 4 && !model.flows.empty()) {
        const auto& k = model.flows[rng() % model.flows.size()];
        v4 = is_mapped_v4(k.local_addr);
        dst = to_array(k.local_addr);
        src = to_array(k.remote_addr);
        dst_port = from_be(k.local_port_be);
        src_port = from_be(k.remote_port_be);
        proto = k.proto;
    } else if (aim < 8 && !model.binds.empty()) {
        const auto& k = model.binds[rng() % model.binds.size()];
        // A wildcard bind of either family; :: also takes IPv4 when dual-stack.
        if (!is_wildcard(k.local_addr)) {
            v4 = is_mapped_v4(k.local_addr);
            dst = to_array(k.local_addr);
        } else if (is_mapped_v4(k.local_addr)) {
            v4 = true;
        }
        dst = is_wildcard(k.local_addr) ? random_address(rng, v4) : dst;
        src = random_address(rng, v4);
        dst_port = from_be(k.local_port_be);
        proto = k.proto;
    }
    // Near misses: the other protocol, a neighbouring port.
    if (chance(rng, 5)) proto = proto == kProtoUdp ? kProtoTcp : kProtoUdp;
    if (chance(rng, 5)) dst_port = static_cast<uint16_t>(dst_port + 1);

    FrameBuilder b;
    b.eth(kPeerMac, kHostMac);
    for (unsigned tags = rng() % 8 == 0 ? 1 + rng() % 3 : 0; tags > 0; --tags)
        b.vlan(static_cast<uint16_t>(rng() % 4096),
               chance(rng, 30) ? kEtherTypeQinQ : kEtherTypeVlan);
    if (v4) {
        b.ipv4(v4_of(src), v4_of(dst));
        if (chance(rng, 10)) {
            std::vector<uint8_t> options(4 * (1 + rng() % 10), 1);  // NOPs
            b.ipv4_options(options);
        }
        if (chance(rng, 10)) b.ipv4_fragment(static_cast<uint16_t>(rng() % 4), chance(rng, 50));
        if (chance(rng, 10)) b.ipv4_dont_fragment();
    } else {
        b.ipv6(src, dst);
        if (chance(rng, 10)) {
            static const uint8_t kTypes[] = {0, 43, 60};
            b.ipv6_extension(kTypes[rng() % 3], static_cast<uint16_t>(8 * (1 + rng() % 3)));
        }
        if (chance(rng, 10))
            b.ipv6_fragment(static_cast<uint16_t>(rng() % 4), chance(rng, 50), rng());
    }
    if (proto == kProtoUdp) {
        b.udp(src_port, dst_port);
    } else {
        b.tcp(src_port, dst_port, static_cast<uint8_t>(rng()), rng(), rng());
        if (chance(rng, 20)) b.tcp_options(std::vector<uint8_t>(4 * (1 + rng() % 10), 1));
    }
    b.payload_size(rng() % 3 == 0 ? 0 : rng() % 600);
    switch (rng() % 24) {  // one broken field now and then
        case 0:
            b.ip_version(static_cast<uint8_t>(rng() % 16));
            break;
        case 1:
            if (v4) b.ipv4_ihl(static_cast<uint8_t>(rng() % 16));
            break;
        case 2:
            if (v4)
                b.ipv4_total_length(static_cast<uint16_t>(rng() % 700));
            else
                b.ipv6_payload_length(static_cast<uint16_t>(rng() % 700));
            break;
        case 3:
            if (proto == kProtoUdp)
                b.udp_length(static_cast<uint16_t>(rng() % 700));
            else
                b.tcp_data_offset(static_cast<uint8_t>(rng() % 16));
            break;
        case 4:
            b.truncate(rng() % 120);
            break;
        case 5:
            b.ip_protocol(static_cast<uint8_t>(rng()));
            break;
        default:
            break;
    }
    if (chance(rng, 20)) b.pad_to(60 + rng() % 40);
    return b.build();
}

void mutate(std::mt19937& rng, std::vector<uint8_t>& frame) {
    switch (rng() % 5) {
        case 0:  // flip bits in the headers
            if (frame.empty()) break;
            for (unsigned n = 1 + rng() % 3; n > 0; --n)
                frame[rng() % std::min<size_t>(frame.size(), 80)] ^= 1u << (rng() % 8);
            break;
        case 1:  // overwrite a header byte
            if (frame.empty()) break;
            frame[rng() % std::min<size_t>(frame.size(), 80)] = static_cast<uint8_t>(rng());
            break;
        case 2:  // truncate
            frame.resize(rng() % (frame.size() + 1));
            break;
        case 3:  // trailing garbage (like padding)
            for (unsigned n = rng() % 64; n > 0; --n) frame.push_back(static_cast<uint8_t>(rng()));
            break;
        default: {  // insert or remove bytes inside the headers: every offset shifts
            const size_t at = rng() % (std::min<size_t>(frame.size(), 80) + 1);
            if (chance(rng, 50))
                frame.insert(frame.begin() + static_cast<long>(at), 1 + rng() % 8,
                             static_cast<uint8_t>(rng()));
            else if (at < frame.size())
                frame.erase(
                    frame.begin() + static_cast<long>(at),
                    frame.begin() + static_cast<long>(std::min(frame.size(), at + 1 + rng() % 8)));
            break;
        }
    }
}

std::optional<xlane_xdp_reason> reference_hit(packet::Bytes f, const SteeringModel& model) {
    auto be16 = [&](size_t at) { return static_cast<uint16_t>((f[at] << 8) | f[at + 1]); };
    if (f.size() < 14) return std::nullopt;
    size_t at = 14;
    uint16_t type = be16(12);
    for (int tags = 0; type == 0x8100 || type == 0x88a8; ++tags) {
        if (tags == 2 || f.size() < at + 4) return std::nullopt;
        type = be16(at + 2);
        at += 4;
    }
    xlane_flow_key key{};  // local = destination, remote = source
    size_t l4 = 0, l3_end = 0;
    uint8_t proto = 0;
    if (type == 0x0800) {
        if (f.size() < at + 20 || (f[at] >> 4) != 4) return std::nullopt;
        const size_t ihl = size_t{f[at] & 0x0fu} * 4;
        const size_t total = be16(at + 2);
        if (ihl < 20 || total < ihl || at + total > f.size()) return std::nullopt;
        if (be16(at + 6) & 0x3fff) return std::nullopt;  // MF or an offset
        proto = f[at + 9];
        key.local_addr.bytes[10] = key.local_addr.bytes[11] = 0xff;
        key.remote_addr.bytes[10] = key.remote_addr.bytes[11] = 0xff;
        std::memcpy(key.remote_addr.bytes + 12, &f[at + 12], 4);
        std::memcpy(key.local_addr.bytes + 12, &f[at + 16], 4);
        l4 = at + ihl;
        l3_end = at + total;
    } else if (type == 0x86dd) {
        if (f.size() < at + 40 || (f[at] >> 4) != 6) return std::nullopt;
        const size_t payload = be16(at + 4);
        if (at + 40 + payload > f.size()) return std::nullopt;
        proto = f[at + 6];  // anything but UDP/TCP here (extension headers too) is no hit
        std::memcpy(key.remote_addr.bytes, &f[at + 8], 16);
        std::memcpy(key.local_addr.bytes, &f[at + 24], 16);
        l4 = at + 40;
        l3_end = l4 + payload;
    } else {
        return std::nullopt;
    }
    if (proto == 17) {
        if (l4 + 8 > l3_end) return std::nullopt;
        const size_t udp_len = be16(l4 + 4);
        if (udp_len < 8 || l4 + udp_len > l3_end) return std::nullopt;
    } else if (proto == 6) {
        if (l4 + 20 > l3_end) return std::nullopt;
        const size_t data_offset = static_cast<size_t>(f[l4 + 12] >> 4) * 4;
        if (data_offset < 20 || l4 + data_offset > l3_end) return std::nullopt;
    } else {
        return std::nullopt;
    }
    std::memcpy(&key.remote_port_be, &f[l4], 2);
    std::memcpy(&key.local_port_be, &f[l4 + 2], 2);
    key.proto = proto;
    auto same = [](const auto& a, const auto& b) { return std::memcmp(&a, &b, sizeof(a)) == 0; };
    for (const auto& flow : model.flows)
        if (same(flow, key)) return XLANE_REASON_REDIRECT_FLOW;
    xlane_bind_key bind{};
    bind.local_addr = key.local_addr;
    bind.local_port_be = key.local_port_be;
    bind.proto = proto;
    xlane_bind_key wildcard = bind;
    std::memset(wildcard.local_addr.bytes + (type == 0x0800 ? 12 : 0), 0, type == 0x0800 ? 4 : 16);
    for (const auto& b : model.binds)
        if (same(b, bind) || same(b, wildcard)) return XLANE_REASON_REDIRECT_BIND;
    return std::nullopt;
}

}  // namespace xlane::test
