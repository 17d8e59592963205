#include "engine/socket_address.h"

#include <netinet/in.h>

#include <cstring>

namespace xlane::engine {

Result<SocketAddress> to_socket_address(int family, const Endpoint& endpoint) {
    SocketAddress out;
    const xlane_addr& raw = endpoint.addr.raw();
    if (family == AF_INET) {
        if (!endpoint.addr.is_v4())
            return make_error(EAFNOSUPPORT, "an IPv4 socket cannot use " + endpoint.to_string());
        auto* in = reinterpret_cast<sockaddr_in*>(&out.storage);
        in->sin_family = AF_INET;
        in->sin_port = htons(endpoint.port);
        std::memcpy(&in->sin_addr, raw.bytes + 12, 4);
        out.length = sizeof(sockaddr_in);
        return out;
    }
    if (family != AF_INET6) return make_error(EAFNOSUPPORT, "not an IPv4 or IPv6 socket");
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(endpoint.port);
    // IpAddress stores the IPv4 wildcard as ::ffff:0.0.0.0, which an AF_INET6
    // bind() would take as "IPv4 any only"; the dual-stack wildcard is ::.
    if (!(endpoint.addr == IpAddress::any_v4())) std::memcpy(&in6->sin6_addr, raw.bytes, 16);
    out.length = sizeof(sockaddr_in6);
    return out;
}

Result<Endpoint> local_endpoint(int fd) {
    sockaddr_storage storage{};
    socklen_t length = sizeof(storage);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0)
        return errno_error("getsockname on the kernel UDP socket failed");
    return Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&storage), length);
}

packet::Ipv6Addr to_packet_addr(const IpAddress& addr) {
    packet::Ipv6Addr out{};
    std::memcpy(out.data(), addr.raw().bytes, out.size());
    return out;
}

IpAddress from_packet_addr(const packet::Ipv6Addr& addr) {
    xlane_addr raw{};
    std::memcpy(raw.bytes, addr.data(), addr.size());
    return IpAddress(raw);
}

}  // namespace xlane::engine
