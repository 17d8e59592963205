// Address text conversions for the wire vocabulary (inet_pton based).
#include "packet/wire.h"

#include <arpa/inet.h>

#include <cstdio>
#include <string>

namespace xlane::packet {

std::optional<Ipv4Addr> parse_ipv4(std::string_view text) {
    Ipv4Addr addr{};
    if (::inet_pton(AF_INET, std::string(text).c_str(), addr.data()) != 1) return std::nullopt;
    return addr;
}

std::optional<Ipv6Addr> parse_ipv6(std::string_view text) {
    Ipv6Addr addr{};
    if (::inet_pton(AF_INET6, std::string(text).c_str(), addr.data()) != 1) return std::nullopt;
    return addr;
}

std::optional<MacAddr> parse_mac(std::string_view text) {
    MacAddr mac{};
    unsigned int b[6];
    char trailing = 0;
    const std::string s(text);
    if (std::sscanf(s.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4],
                    &b[5], &trailing) != 6)
        return std::nullopt;
    for (size_t i = 0; i < mac.size(); ++i) mac[i] = static_cast<uint8_t>(b[i]);
    return mac;
}

Ipv6Addr ipv4_mapped(const Ipv4Addr& addr) {
    Ipv6Addr mapped{};
    mapped[10] = 0xff;
    mapped[11] = 0xff;
    for (size_t i = 0; i < addr.size(); ++i) mapped[12 + i] = addr[i];
    return mapped;
}

}  // namespace xlane::packet
