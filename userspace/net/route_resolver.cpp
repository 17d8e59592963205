#include "net/route_resolver.h"

#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <string>
#include <utility>

namespace xlane::net {

namespace {

// Everything that can change a route lookup's answer: routes themselves,
// policy rules, links (MTU, up/down, removal) and addresses (source choice).
constexpr std::array<unsigned, 8> kRouteChangeGroups = {
    RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE,  RTNLGRP_IPV4_RULE,   RTNLGRP_IPV6_RULE,
    RTNLGRP_LINK,       RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, RTNLGRP_NEXTHOP,
};

Error route_failure(const Error& kernel, const IpAddress& destination) {
    const std::string dst = destination.to_string();
    const std::string check = " (see `ip route get " + dst + "`)";
    switch (kernel.errnum) {
        case ENETUNREACH:
            return make_error(kernel.errnum, "no route to " + dst +
                                                 " in this network namespace; add one with "
                                                 "`ip route add`" +
                                                 check);
        case EHOSTUNREACH:
            return make_error(kernel.errnum, "the route to " + dst + " is 'unreachable'" + check);
        case EACCES:
            return make_error(kernel.errnum, "the route to " + dst + " is 'prohibit'" + check);
        case EINVAL:
            return make_error(kernel.errnum,
                              "the kernel cannot route to " + dst +
                                  " (a blackhole route, or not a unicast destination)" + check);
        default:
            return make_error(kernel.errnum,
                              "cannot look up the route to " + dst + ": " + kernel.message + check);
    }
}

bool is_ipv6_link_local(const IpAddress& address) {
    const auto& b = address.raw().bytes;
    return !address.is_v4() && b[0] == 0xfe && (b[1] & 0xc0) == 0x80;
}

}  // namespace

size_t RouteResolver::AddressHash::operator()(const IpAddress& address) const {
    uint64_t halves[2];
    std::memcpy(halves, address.raw().bytes, sizeof(halves));
    return std::hash<uint64_t>{}(halves[0] * 0x9e3779b97f4a7c15ULL ^ halves[1]);
}

RouteResolver::RouteResolver(Options options, NetlinkSocket requests, NetlinkSocket changes)
    : options_(options), requests_(std::move(requests)), changes_(std::move(changes)) {}

Result<std::unique_ptr<RouteResolver>> RouteResolver::open(const Options& options) {
    // Subscribe before the first question: a change between the two is then
    // seen as an invalidation rather than missed.
    auto changes = NetlinkSocket::open_subscription(kRouteChangeGroups);
    if (!changes) return changes.error();
    auto requests = NetlinkSocket::open_requests(options.request_timeout);
    if (!requests) return requests.error();
    return std::unique_ptr<RouteResolver>(
        new RouteResolver(options, std::move(requests).value(), std::move(changes).value()));
}

Result<NextHop> RouteResolver::resolve(const IpAddress& destination) {
    std::lock_guard lock(mutex_);
    if (auto hit = routes_.find(destination); hit != routes_.end()) return hit->second;
    auto next_hop = ask_kernel(destination);
    if (!next_hop) return next_hop.error();
    if (routes_.size() >= options_.max_cached_routes) routes_.clear();
    routes_.emplace(destination, next_hop.value());
    return next_hop;
}

Result<NextHop> RouteResolver::ask_kernel(const IpAddress& destination) {
    if (destination.is_any())
        return make_error(EINVAL,
                          "cannot route to the wildcard address " + destination.to_string());
    // Without a scope the kernel cannot tell which link is meant.
    if (is_ipv6_link_local(destination))
        return make_error(EINVAL, "link-local destination " + destination.to_string() +
                                      " needs an interface; xlane routes only global addresses");
    uint8_t buffer[kRequestBufferSize];
    nlmsghdr* request = encode_route_get(buffer, destination);
    std::optional<Result<RouteAnswer>> answer;
    const Status sent = requests_.request(request, [&](const nlmsghdr& msg) {
        if (msg.nlmsg_type == RTM_NEWROUTE && !answer) answer = decode_route(msg);
    });
    if (!sent) return route_failure(sent.error(), destination);
    if (!answer)
        return make_error(EPROTO, "the kernel answered the route lookup for " +
                                      destination.to_string() + " without a route");
    if (!*answer) return answer->error();
    const RouteAnswer& route = answer->value();

    NextHop hop;
    hop.kind = route.type == RTN_UNICAST ? RouteKind::kUnicast
               : route.type == RTN_LOCAL ? RouteKind::kLocal
                                         : RouteKind::kOther;
    hop.ifindex = route.oif;
    if (hop.ifindex == 0)
        return make_error(EHOSTUNREACH, "the kernel's route to " + destination.to_string() +
                                            " names no output interface");
    hop.via_gateway = route.gateway.has_value();
    hop.next_hop = route.gateway.value_or(destination);
    if (route.preferred_source) {
        hop.source = *route.preferred_source;
    } else {
        auto source = interface_source(hop.ifindex, destination.is_v4());
        if (!source) return source.error();
        hop.source = source.value();
    }
    if (route.mtu != 0) {
        hop.mtu = route.mtu;
    } else {
        auto mtu = device_mtu(hop.ifindex);
        if (!mtu) return mtu.error();
        hop.mtu = mtu.value();
    }
    return hop;
}

Result<uint32_t> RouteResolver::device_mtu(uint32_t ifindex) {
    if (auto known = device_mtus_.find(ifindex); known != device_mtus_.end()) return known->second;
    uint8_t buffer[kRequestBufferSize];
    std::optional<Result<LinkEntry>> link;
    const Status sent =
        requests_.request(encode_link_get(buffer, ifindex), [&](const nlmsghdr& msg) {
            if (msg.nlmsg_type == RTM_NEWLINK && !link) link = decode_link(msg);
        });
    const std::string which = "interface " + std::to_string(ifindex);
    if (!sent) return make_error(sent.error().errnum, "cannot read the MTU of " + which);
    if (!link || !*link || link->value().mtu == 0)
        return make_error(EPROTO, "the kernel gave no MTU for " + which);
    device_mtus_[ifindex] = link->value().mtu;
    return link->value().mtu;
}

Result<IpAddress> RouteResolver::interface_source(uint32_t ifindex, bool ipv4) {
    uint8_t buffer[kRequestBufferSize];
    std::vector<AddressEntry> addresses;
    const Status sent = requests_.request(
        encode_dump(buffer, RTM_GETADDR, ipv4 ? AF_INET : AF_INET6), [&](const nlmsghdr& msg) {
            if (msg.nlmsg_type != RTM_NEWADDR) return;
            if (auto entry = decode_address(msg); entry && entry->ifindex == ifindex)
                addresses.push_back(entry.value());
        });
    const std::string which = "interface " + std::to_string(ifindex);
    if (!sent)
        return make_error(sent.error().errnum,
                          "cannot list the addresses of " + which + ": " + sent.error().message);
    auto primary = primary_address(addresses, ifindex, ipv4);
    if (!primary)
        return make_error(EADDRNOTAVAIL, std::string("the route leaves through ") + which +
                                             ", which has no usable " + (ipv4 ? "IPv4" : "IPv6") +
                                             " address to send from; add one with `ip addr add`");
    return *primary;
}

Result<size_t> RouteResolver::poll_changes() {
    std::lock_guard lock(mutex_);
    size_t changes = 0;
    Status read_status;
    // An overrun (ENOBUFS) counts as a change: what was lost is unknown. The
    // socket keeps working after it, so reading goes on (a bounded number of times).
    for (int attempt = 0; attempt < 4; ++attempt) {
        auto drained = changes_.drain([](const nlmsghdr&) {});
        if (drained) {
            changes += drained.value();
            break;
        }
        if (drained.error().errnum != ENOBUFS) {
            read_status = drained.error();
            break;
        }
        ++changes;
    }
    // Any change may alter any answer, so the cache starts again: working out
    // which entries one change affects would re-implement the kernel's lookup.
    if (changes > 0 || !read_status) {
        routes_.clear();
        device_mtus_.clear();
    }
    if (!read_status) return read_status.error();
    return changes;
}

size_t RouteResolver::cached_routes() const {
    std::lock_guard lock(mutex_);
    return routes_.size();
}

}  // namespace xlane::net
