// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d): the one address type the UDP
// engine uses for both families, as the parser and the steering maps do.
#pragma once

#include <algorithm>

#include "packet/wire.h"

namespace xlane::udp {

[[nodiscard]] inline bool is_ipv4_mapped(const packet::Ipv6Addr& addr) {
    return std::all_of(addr.begin(), addr.begin() + 10, [](uint8_t b) { return b == 0; }) &&
           addr[10] == 0xff && addr[11] == 0xff;
}

// The IPv4 address inside a mapped one (the caller checked is_ipv4_mapped).
[[nodiscard]] inline packet::Ipv4Addr ipv4_of(const packet::Ipv6Addr& mapped) {
    return {mapped[12], mapped[13], mapped[14], mapped[15]};
}

// Wildcards as the steering maps store them: ::ffff:0.0.0.0 and ::.
inline constexpr packet::Ipv6Addr kAnyIpv4Mapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
inline constexpr packet::Ipv6Addr kAnyIpv6 = {};

}  // namespace xlane::udp
