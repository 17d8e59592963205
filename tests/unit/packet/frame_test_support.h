// Addresses and ready-made frames shared by the packet unit tests (test
// networks only: 198.18.0.0/15 and fd00:198:18::/64).
#pragma once

#include "packet/frame_builder.h"
#include "packet/wire.h"

namespace xlane::packet::test {

inline const MacAddr kMacA = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
inline const MacAddr kMacB = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
inline const Ipv4Addr kIp4A = {198, 18, 0, 1};
inline const Ipv4Addr kIp4B = {198, 18, 0, 2};
inline const Ipv6Addr kIp6A = *parse_ipv6("fd00:198:18::1");
inline const Ipv6Addr kIp6B = *parse_ipv6("fd00:198:18::2");

}  // namespace xlane::packet::test
