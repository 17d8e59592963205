// UdpDemux: two hash tables with the steering maps' key types.
#include "udp/udp_demux.h"

#include <cstring>

#include "udp/mapped_address.h"

namespace xlane::udp {
namespace {

void set_port_be(uint16_t& field, uint16_t port) {
    uint8_t bytes[2];
    packet::store_be16(bytes, port);
    std::memcpy(&field, bytes, 2);
}

xlane_flow_key flow_key(const packet::Ipv6Addr& local_addr, uint16_t local_port,
                        const packet::Ipv6Addr& remote_addr, uint16_t remote_port) {
    xlane_flow_key key{};
    std::memcpy(key.local_addr.bytes, local_addr.data(), 16);
    std::memcpy(key.remote_addr.bytes, remote_addr.data(), 16);
    set_port_be(key.local_port_be, local_port);
    set_port_be(key.remote_port_be, remote_port);
    key.proto = packet::kProtoUdp;
    return key;
}

xlane_bind_key bind_key(const packet::Ipv6Addr& local_addr, uint16_t local_port) {
    xlane_bind_key key{};
    std::memcpy(key.local_addr.bytes, local_addr.data(), 16);
    set_port_be(key.local_port_be, local_port);
    key.proto = packet::kProtoUdp;
    return key;
}

bool is_wildcard(const packet::Ipv6Addr& addr) {
    return addr == kAnyIpv6 || addr == kAnyIpv4Mapped;
}

}  // namespace

template <typename Key>
size_t UdpDemux::KeyBytesHash::operator()(const Key& key) const {
    uint8_t bytes[sizeof(Key)];
    std::memcpy(bytes, &key, sizeof(Key));
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (uint8_t b : bytes) h = (h ^ b) * 1099511628211ull;
    return static_cast<size_t>(h);
}

template <typename Key>
bool UdpDemux::KeyBytesEqual::operator()(const Key& a, const Key& b) const {
    return std::memcmp(&a, &b, sizeof(Key)) == 0;
}

Status UdpDemux::add_connected(const packet::Ipv6Addr& local_addr, uint16_t local_port,
                               const packet::Ipv6Addr& remote_addr, uint16_t remote_port,
                               UdpSocketId socket) {
    if (is_wildcard(local_addr) || local_port == 0 || remote_port == 0)
        return make_error(EINVAL,
                          "a connected UDP socket needs its concrete local address and both ports");
    if (is_ipv4_mapped(local_addr) != is_ipv4_mapped(remote_addr))
        return make_error(EINVAL, "connected UDP addresses are of different families");
    if (!connected_.emplace(flow_key(local_addr, local_port, remote_addr, remote_port), socket)
             .second)
        return make_error(EADDRINUSE, "another socket is connected on the same 5-tuple");
    return {};
}

Status UdpDemux::add_bound(const packet::Ipv6Addr& local_addr, uint16_t local_port,
                           UdpSocketId socket, bool v6only) {
    if (local_port == 0) return make_error(EINVAL, "a bound UDP socket needs a local port");
    if (!bound_.emplace(bind_key(local_addr, local_port), BoundSocket{socket, v6only}).second)
        return make_error(EADDRINUSE, "another socket is bound to the same address and port");
    return {};
}

bool UdpDemux::remove_connected(const packet::Ipv6Addr& local_addr, uint16_t local_port,
                                const packet::Ipv6Addr& remote_addr, uint16_t remote_port) {
    return connected_.erase(flow_key(local_addr, local_port, remote_addr, remote_port)) > 0;
}

bool UdpDemux::remove_bound(const packet::Ipv6Addr& local_addr, uint16_t local_port) {
    return bound_.erase(bind_key(local_addr, local_port)) > 0;
}

std::optional<DemuxHit> UdpDemux::lookup(const packet::Ipv6Addr& local_addr, uint16_t local_port,
                                         const packet::Ipv6Addr& remote_addr,
                                         uint16_t remote_port) const {
    if (auto it = connected_.find(flow_key(local_addr, local_port, remote_addr, remote_port));
        it != connected_.end())
        return DemuxHit{it->second, DemuxMatch::kConnected};
    if (auto it = bound_.find(bind_key(local_addr, local_port)); it != bound_.end())
        return DemuxHit{it->second.socket, DemuxMatch::kBound};
    const bool ipv4 = is_ipv4_mapped(local_addr);
    if (ipv4) {
        if (auto it = bound_.find(bind_key(kAnyIpv4Mapped, local_port)); it != bound_.end())
            return DemuxHit{it->second.socket, DemuxMatch::kWildcard};
    }
    if (auto it = bound_.find(bind_key(kAnyIpv6, local_port));
        it != bound_.end() && !(ipv4 && it->second.v6only))
        return DemuxHit{it->second.socket, DemuxMatch::kWildcard};
    return std::nullopt;
}

std::optional<DemuxHit> UdpDemux::lookup(const packet::ParsedFrame& frame) const {
    if (!frame.ok() || frame.protocol != packet::kProtoUdp) return std::nullopt;
    return lookup(frame.dst_addr, frame.dst_port, frame.src_addr, frame.src_port);
}

}  // namespace xlane::udp
