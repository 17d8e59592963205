#include "steering/address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace xlane {

namespace {
constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
}  // namespace

IpAddress IpAddress::from_v4(in_addr addr) {
    IpAddress a;
    std::memcpy(a.raw_.bytes, kMappedPrefix, sizeof(kMappedPrefix));
    std::memcpy(&a.raw_.bytes[12], &addr.s_addr, 4);
    return a;
}

IpAddress IpAddress::from_v6(const in6_addr& addr) {
    IpAddress a;
    std::memcpy(a.raw_.bytes, addr.s6_addr, 16);
    return a;
}

IpAddress IpAddress::any_v4() {
    return from_v4(in_addr{INADDR_ANY});
}
IpAddress IpAddress::any_v6() {
    return IpAddress{};
}

Result<IpAddress> IpAddress::parse(std::string_view text) {
    const std::string s(text);
    in_addr v4{};
    if (::inet_pton(AF_INET, s.c_str(), &v4) == 1) return from_v4(v4);
    in6_addr v6{};
    if (::inet_pton(AF_INET6, s.c_str(), &v6) == 1) return from_v6(v6);
    return make_error(EINVAL, "'" + s + "' is not an IPv4 or IPv6 address");
}

bool IpAddress::is_v4() const {
    return std::memcmp(raw_.bytes, kMappedPrefix, sizeof(kMappedPrefix)) == 0;
}

bool IpAddress::is_any() const {
    return *this == any_v4() || *this == any_v6();
}

std::string IpAddress::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (is_v4())
        ::inet_ntop(AF_INET, &raw_.bytes[12], buf, sizeof(buf));
    else
        ::inet_ntop(AF_INET6, raw_.bytes, buf, sizeof(buf));
    return buf;
}

bool operator==(const IpAddress& a, const IpAddress& b) {
    return std::memcmp(a.raw_.bytes, b.raw_.bytes, 16) == 0;
}

std::string Endpoint::to_string() const {
    const std::string host = addr.to_string();
    return (addr.is_v4() ? host : "[" + host + "]") + ":" + std::to_string(port);
}

Result<Endpoint> Endpoint::parse(std::string_view text) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon + 1 == text.size())
        return make_error(
            EINVAL, "'" + std::string(text) + "' is not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)");
    std::string_view host = text.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    const std::string_view port_text = text.substr(colon + 1);
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535)
        return make_error(EINVAL, "'" + std::string(port_text) + "' is not a port (0-65535)");
    auto addr = IpAddress::parse(host);
    if (!addr) return addr.error();
    return Endpoint{addr.value(), static_cast<uint16_t>(port)};
}

Result<Endpoint> Endpoint::from_sockaddr(const sockaddr* sa, socklen_t len) {
    if (sa != nullptr && sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        return Endpoint{IpAddress::from_v4(in->sin_addr), ntohs(in->sin_port)};
    }
    if (sa != nullptr && sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        return Endpoint{IpAddress::from_v6(in6->sin6_addr), ntohs(in6->sin6_port)};
    }
    return make_error(EAFNOSUPPORT, "only IPv4 and IPv6 socket addresses can be steered");
}

}  // namespace xlane
