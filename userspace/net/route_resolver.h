// RouteResolver: for a destination address, where the kernel would send it
// (interface, source, next hop, MTU), asked with RTM_GETROUTE and cached until a change.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "net/netlink_socket.h"
#include "net/rtnl_messages.h"
#include "steering/address.h"

namespace xlane::net {

enum class RouteKind {
    kUnicast,  // transmit on `ifindex` to `next_hop`'s link-layer address
    kLocal,    // the destination is this host (the kernel would loop it back)
    kOther,    // broadcast, multicast, anycast: the kernel path's business
};

struct NextHop {
    RouteKind kind = RouteKind::kUnicast;
    uint32_t ifindex = 0;
    IpAddress source;    // RTA_PREFSRC, else the interface's primary address of the family
    IpAddress next_hop;  // the gateway, or the destination itself when on-link
    bool via_gateway = false;
    uint32_t mtu = 0;  // the route's MTU (or learnt path MTU) when set, else the device MTU
};

// Thread contract: every public method may be called from any thread; one
// internal mutex serialises them. A cache hit costs a lock and a hash
// lookup; a miss is one or two kernel round trips (bounded by
// Options::request_timeout) under the lock. There is no hidden thread:
// answers reflect route, rule, link and address changes up to the last
// poll_changes() call, which the owner makes when fd() is readable.
class RouteResolver {
  public:
    struct Options {
        std::chrono::milliseconds request_timeout{1000};
        // Past this many destinations the cache starts again from empty, so
        // a server answering many clients cannot grow it without bound.
        size_t max_cached_routes = 4096;
    };

    [[nodiscard]] static Result<std::unique_ptr<RouteResolver>> open(const Options& options);
    [[nodiscard]] static Result<std::unique_ptr<RouteResolver>> open() { return open(Options{}); }

    // The kernel's route to `destination` (IPv4 or IPv6), as `ip route get`
    // shows it: policy rules, VRF tables and path MTU included.
    [[nodiscard]] Result<NextHop> resolve(const IpAddress& destination);

    // Readable when route, rule, link or address changes are waiting.
    [[nodiscard]] int fd() const { return changes_.fd(); }
    // Reads the waiting changes without blocking; any of them empties the
    // cache. Returns how many change messages were read.
    [[nodiscard]] Result<size_t> poll_changes();

    [[nodiscard]] size_t cached_routes() const;

  private:
    RouteResolver(Options options, NetlinkSocket requests, NetlinkSocket changes);
    Result<NextHop> ask_kernel(const IpAddress& destination);
    Result<uint32_t> device_mtu(uint32_t ifindex);
    Result<IpAddress> interface_source(uint32_t ifindex, bool ipv4);

    struct AddressHash {
        size_t operator()(const IpAddress& address) const;
    };

    Options options_;
    mutable std::mutex mutex_;
    NetlinkSocket requests_;
    NetlinkSocket changes_;
    std::unordered_map<IpAddress, NextHop, AddressHash> routes_;
    std::unordered_map<uint32_t, uint32_t> device_mtus_;
};

}  // namespace xlane::net
