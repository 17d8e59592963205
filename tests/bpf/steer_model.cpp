// Steering oracle: FrameParser (checksums off, as XDP) + table lookups in the
// program's order: exact 5-tuple, exact 3-tuple, family wildcard 3-tuple.
#include "steer_model.h"

#include <algorithm>
#include <cstring>

namespace xlane::test {
namespace {

uint16_t to_be(uint16_t host) {
    const uint8_t bytes[2] = {static_cast<uint8_t>(host >> 8), static_cast<uint8_t>(host)};
    uint16_t be;
    std::memcpy(&be, bytes, 2);
    return be;
}

template <typename Key>
bool contains(const std::vector<Key>& keys, const Key& key) {
    return std::any_of(keys.begin(), keys.end(),
                       [&](const Key& k) { return std::memcmp(&k, &key, sizeof(Key)) == 0; });
}

}  // namespace

xlane_bind_key bind_key(const packet::Ipv6Addr& local, uint16_t port, uint8_t proto) {
    xlane_bind_key key{};
    std::memcpy(key.local_addr.bytes, local.data(), 16);
    key.local_port_be = to_be(port);
    key.proto = proto;
    return key;
}

xlane_flow_key flow_key(const packet::Ipv6Addr& local, uint16_t local_port,
                        const packet::Ipv6Addr& remote, uint16_t remote_port, uint8_t proto) {
    xlane_flow_key key{};
    std::memcpy(key.local_addr.bytes, local.data(), 16);
    std::memcpy(key.remote_addr.bytes, remote.data(), 16);
    key.local_port_be = to_be(local_port);
    key.remote_port_be = to_be(remote_port);
    key.proto = proto;
    return key;
}

packet::Ipv6Addr any4() {
    return packet::ipv4_mapped({0, 0, 0, 0});
}
packet::Ipv6Addr any6() {
    return {};
}

xlane_xdp_reason SteeringModel::expected_reason(packet::Bytes frame, bool xsk_present) const {
    const auto parsed = packet::parse_frame(frame, {.verify_checksums = false});
    if (!parsed.ok()) return packet::xdp_reason_for(parsed.error);
    xlane_xdp_reason hit = XLANE_REASON_PASS_NO_MATCH;
    if (contains(flows, packet::flow_key_of(parsed))) {
        hit = XLANE_REASON_REDIRECT_FLOW;
    } else if (contains(binds, bind_key(parsed.dst_addr, parsed.dst_port, parsed.protocol)) ||
               contains(binds, bind_key(parsed.is_ipv4() ? any4() : any6(), parsed.dst_port,
                                        parsed.protocol))) {
        hit = XLANE_REASON_REDIRECT_BIND;
    }
    if (hit != XLANE_REASON_PASS_NO_MATCH && !xsk_present) return XLANE_REASON_PASS_NO_XSK;
    return hit;
}

}  // namespace xlane::test
