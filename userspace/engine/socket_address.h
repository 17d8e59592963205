// Conversions between the engine's endpoints (IPv4-mapped addresses, host-order
// ports) and the sockaddr of a kernel socket of a given family.
#pragma once

#include <sys/socket.h>

#include "common/result.h"
#include "packet/wire.h"
#include "steering/address.h"

namespace xlane::engine {

struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;
    [[nodiscard]] const sockaddr* get() const {
        return reinterpret_cast<const sockaddr*>(&storage);
    }
};

// `endpoint` as an AF_INET or AF_INET6 socket (an IPv4 endpoint becomes
// ::ffff:a.b.c.d for AF_INET6); EAFNOSUPPORT for IPv6 on an AF_INET socket.
[[nodiscard]] Result<SocketAddress> to_socket_address(int family, const Endpoint& endpoint);

// getsockname() / getpeername() as endpoints.
[[nodiscard]] Result<Endpoint> local_endpoint(int fd);

// Between the steering maps' address type and the packet codec's.
[[nodiscard]] packet::Ipv6Addr to_packet_addr(const IpAddress& addr);
[[nodiscard]] IpAddress from_packet_addr(const packet::Ipv6Addr& addr);

}  // namespace xlane::engine
