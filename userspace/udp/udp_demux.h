// UdpDemux: which user-space UDP socket a received datagram belongs to, with
// the XDP program's precedence (exact 5-tuple, then bound address, then the
// wildcard of the packet's family; see bpf/abi/xlane/abi.h).
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>

#include "common/result.h"
#include "packet/frame_parser.h"
#include "packet/wire.h"
#include "xlane/abi.h"

namespace xlane::udp {

// The caller's name for a socket (an fd, a table index); the demux owns nothing.
using UdpSocketId = uint32_t;

enum class DemuxMatch : uint8_t {
    kConnected,  // exact (local, remote) 5-tuple
    kBound,      // (local address, local port)
    kWildcard,   // (0.0.0.0 or ::, local port)
};

struct DemuxHit {
    UdpSocketId socket = 0;
    DemuxMatch match = DemuxMatch::kConnected;
};

// Addresses are IPv4-mapped for IPv4, as everywhere in the engine. Wildcard
// binds use kAnyIpv4Mapped (an AF_INET socket on 0.0.0.0) or kAnyIpv6 (an
// AF_INET6 socket on ::, which also receives IPv4 unless v6only, like
// IPV6_V6ONLY). Lookup order for a datagram to (local, port) from remote:
//   1. connected (local, port, remote, remote port)
//   2. bound (local, port)
//   3. IPv4: bound (0.0.0.0, port), then a dual-stack (::, port)
//      IPv6: bound (::, port)
// A connected socket is entered under the concrete local address the kernel
// chose at connect(), as xlane_flows keys it. Bind conflicts (EADDRINUSE
// without SO_REUSEADDR) are the kernel shadow socket's to enforce; here one
// key holds one socket, and a more specific key simply wins.
// Lookups (the per-datagram path) never allocate; add/remove (bind, connect,
// close) may.
class UdpDemux {
  public:
    // EADDRINUSE when the key already names a socket; EINVAL for a connected
    // entry with a wildcard local address or a zero port.
    [[nodiscard]] Status add_connected(const packet::Ipv6Addr& local_addr, uint16_t local_port,
                                       const packet::Ipv6Addr& remote_addr, uint16_t remote_port,
                                       UdpSocketId socket);
    [[nodiscard]] Status add_bound(const packet::Ipv6Addr& local_addr, uint16_t local_port,
                                   UdpSocketId socket, bool v6only = false);
    // True when the entry existed.
    bool remove_connected(const packet::Ipv6Addr& local_addr, uint16_t local_port,
                          const packet::Ipv6Addr& remote_addr, uint16_t remote_port);
    bool remove_bound(const packet::Ipv6Addr& local_addr, uint16_t local_port);

    [[nodiscard]] std::optional<DemuxHit> lookup(const packet::Ipv6Addr& local_addr,
                                                 uint16_t local_port,
                                                 const packet::Ipv6Addr& remote_addr,
                                                 uint16_t remote_port) const;
    // For a parsed UDP frame: local is its destination.
    [[nodiscard]] std::optional<DemuxHit> lookup(const packet::ParsedFrame& frame) const;

    [[nodiscard]] size_t connected_count() const { return connected_.size(); }
    [[nodiscard]] size_t bound_count() const { return bound_.size(); }

  private:
    // The steering maps' own key types, so the two tables cannot disagree on
    // what a key is; hashed and compared as bytes (padding is zeroed).
    struct KeyBytesHash {
        template <typename Key>
        size_t operator()(const Key& key) const;
    };
    struct KeyBytesEqual {
        template <typename Key>
        bool operator()(const Key& a, const Key& b) const;
    };
    struct BoundSocket {
        UdpSocketId socket;
        bool v6only;
    };

    std::unordered_map<xlane_flow_key, UdpSocketId, KeyBytesHash, KeyBytesEqual> connected_;
    std::unordered_map<xlane_bind_key, BoundSocket, KeyBytesHash, KeyBytesEqual> bound_;
};

}  // namespace xlane::udp
