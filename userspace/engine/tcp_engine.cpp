// TcpEngine: the socket table, bind/listen/connect/accept/close with their
// steering entries, the application's data calls, and readiness.
#include "engine/tcp_engine.h"
#include "engine/tcp_handover.h"

#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>  // TCP_LINGER2
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>

#include "common/high_fd.h"
#include "engine/socket_address.h"
#include "engine/tcp_engine_socket.h"
#include "xdp/netdev.h"

namespace xlane::engine {
namespace {

Result<int> socket_int_option(int fd, int level, int option) {
    int value = 0;
    socklen_t length = sizeof(value);
    if (::getsockopt(fd, level, option, &value, &length) != 0)
        return errno_error("getsockopt failed");
    return value;
}

size_t somaxconn() {
    FILE* in = std::fopen("/proc/sys/net/core/somaxconn", "re");
    if (in == nullptr) return 4096;
    unsigned long value = 4096;
    if (std::fscanf(in, "%lu", &value) != 1) value = 4096;
    std::fclose(in);
    return value;
}

}  // namespace

TcpFaultConfig TcpFaultConfig::from(const config::TcpFaults& faults) {
    TcpFaultConfig config;
    config.enabled = faults.enabled;
    config.rates.drop = faults.drop;
    config.rates.duplicate = faults.duplicate;
    config.rates.reorder = faults.reorder;
    config.seed = faults.seed;
    return config;
}

size_t TcpEngine::TupleHash::operator()(const tcp::FourTuple& tuple) const {
    // Both endpoints, eight bytes per multiply-xorshift round (one lookup per
    // segment: the byte-wise FNV-1a this replaces was 2% of a bulk
    // transfer's CPU); the 4-tuples here are not attacker-chosen beyond what
    // one peer may open.
    uint64_t words[5];
    static_assert(sizeof(tuple.local.addr) == 16 && sizeof(tuple.remote.addr) == 16);
    std::memcpy(&words[0], tuple.local.addr.data(), 16);
    std::memcpy(&words[2], tuple.remote.addr.data(), 16);
    words[4] = uint64_t{tuple.local.port} << 16 | tuple.remote.port;
    uint64_t hash = 0x9e3779b97f4a7c15ULL;
    for (const uint64_t word : words) {
        hash = (hash ^ word) * 0xff51afd7ed558ccdULL;
        hash ^= hash >> 32;
    }
    return static_cast<size_t>(hash);
}

TcpEngine::TcpEngine(TcpEngineHost host, TcpFaultConfig faults)
    : host_(std::move(host)), fault_config_(faults) {
    if (fault_config_.enabled) {
        rx_faults_ = std::make_unique<tcp::FaultInjector>(faults.rates, faults.seed * 2 + 1);
        tx_faults_ = std::make_unique<tcp::FaultInjector>(faults.rates, faults.seed * 2 + 2);
    }
}

TcpEngine::~TcpEngine() {
    std::lock_guard lock(*host_.mutex);
    for (auto& [tuple, flow] : flows_) forget_flow_locked(*flow);
    for (auto& [id, socket] : sockets_) unsteer_binds_locked(*socket);
}

Status TcpEngine::init() {
    timer_.reset(move_fd_high(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)));
    if (!timer_) return errno_error("timerfd_create failed");
    for (const auto& port : host_.ports) {
        auto mtu = interface_mtu(port->ifname());
        if (!mtu) return mtu.error();
        port_mtu_.push_back(mtu.value());
    }
    return {};
}

// ---------------------------------------------------------------- sockets

Result<TcpSocketId> TcpEngine::open(int family) {
    if (family != AF_INET && family != AF_INET6)
        return make_error(EAFNOSUPPORT, "the TCP engine serves AF_INET and AF_INET6 only");
    UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
    if (!fd) return errno_error("cannot create the kernel TCP socket");
    const int raw = fd.get();
    return add_socket(family, raw, std::move(fd));
}

Result<TcpSocketId> TcpEngine::adopt(int kernel_fd) {
    auto domain = socket_int_option(kernel_fd, SOL_SOCKET, SO_DOMAIN);
    if (!domain) return domain.error();
    auto protocol = socket_int_option(kernel_fd, SOL_SOCKET, SO_PROTOCOL);
    if (!protocol) return protocol.error();
    if ((domain.value() != AF_INET && domain.value() != AF_INET6) ||
        protocol.value() != IPPROTO_TCP)
        return make_error(EPROTONOSUPPORT, "only IPv4/IPv6 TCP sockets can be adopted");
    return add_socket(domain.value(), kernel_fd, UniqueFd());
}

Result<TcpSocketId> TcpEngine::add_socket(int family, int kernel_fd, UniqueFd owned) {
    UniqueFd event(move_fd_high(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)));
    if (!event) return errno_error("cannot create the socket's readiness eventfd");
    bool v6only = false;
    if (family == AF_INET6) {
        auto value = socket_int_option(kernel_fd, IPPROTO_IPV6, IPV6_V6ONLY);
        if (!value) return value.error();
        v6only = value.value() != 0;
    }
    auto local = engine::local_endpoint(kernel_fd);
    OperationLock lock(*this);
    const TcpSocketId id = next_id_++;
    auto socket = std::make_unique<Socket>(family, kernel_fd, std::move(owned), std::move(event));
    socket->v6only = v6only;
    if (local && local->port != 0) socket->local = local.value();
    update_readiness_locked(*socket);
    sockets_.emplace(id, std::move(socket));
    return id;
}

Result<TcpEngine::Socket*> TcpEngine::find_locked(TcpSocketId id) const {
    auto it = sockets_.find(id);
    if (it == sockets_.end())
        return make_error(EBADF, "no TCP engine socket " + std::to_string(id));
    return it->second.get();
}

TcpEngine::Flow* TcpEngine::flow_of_locked(const Socket& socket) {
    if (!socket.tuple) return nullptr;
    auto it = flows_.find(*socket.tuple);
    return it == flows_.end() ? nullptr : it->second.get();
}

const TcpEngine::Flow* TcpEngine::flow_of_locked(const Socket& socket) const {
    if (!socket.tuple) return nullptr;
    auto it = flows_.find(*socket.tuple);
    return it == flows_.end() ? nullptr : it->second.get();
}

InterfacePort* TcpEngine::port_for_ifindex(uint32_t ifindex) const {
    for (const auto& port : host_.ports)
        if (port->ifindex() == ifindex) return port.get();
    return nullptr;
}

Result<Endpoint> TcpEngine::bind(TcpSocketId id, const Endpoint& local) {
    OperationLock lock(*this);
    auto found = find_locked(id);
    if (!found) return found.error();
    Socket& socket = *found.value();
    if (socket.local || socket.tuple) return make_error(EINVAL, "the socket is already bound");
    auto address = to_socket_address(socket.family, local);
    if (!address) return address.error();
    if (::bind(socket.kernel_fd, address->get(), address->length) != 0)
        return errno_error("cannot bind the TCP socket to " + local.to_string());
    auto bound = engine::local_endpoint(socket.kernel_fd);
    if (!bound) return bound.error();
    socket.local = bound.value();
    return bound.value();
}

Status TcpEngine::listen(TcpSocketId id, int backlog) {
    OperationLock lock(*this);
    auto found = find_locked(id);
    if (!found) return found.error();
    Socket& socket = *found.value();
    if (socket.tuple) return make_error(EINVAL, "a connected socket cannot listen");
    const uint32_t queue = static_cast<uint32_t>(
        std::min<size_t>(backlog <= 0 ? 1 : static_cast<size_t>(backlog), somaxconn()));
    if (socket.listener) return {};  // Linux only changes the backlog; keep it simple
    if (!socket.local) {
        // listen() on an unbound socket binds an ephemeral port, as the kernel does.
        const Endpoint any{socket.family == AF_INET ? IpAddress::any_v4() : IpAddress::any_v6(), 0};
        auto address = to_socket_address(socket.family, any);
        if (!address) return address.error();
        if (::bind(socket.kernel_fd, address->get(), address->length) != 0)
            return errno_error("cannot bind the listening TCP socket");
        auto bound = engine::local_endpoint(socket.kernel_fd);
        if (!bound) return bound.error();
        socket.local = bound.value();
    }
    const Endpoint& local = *socket.local;
    std::vector<Endpoint> endpoints{local};
    if (socket.family == AF_INET6 && local.addr == IpAddress::any_v6() && !socket.v6only)
        endpoints.push_back(Endpoint{IpAddress::any_v4(), local.port});
    for (const Endpoint& endpoint : endpoints) {
        if (listeners_.count({to_packet_addr(endpoint.addr), endpoint.port}) != 0) {
            unsteer_binds_locked(socket);
            return make_error(EADDRINUSE,
                              "another engine socket listens on " + endpoint.to_string());
        }
        const BindKey key{L4Proto::tcp, endpoint};
        for (size_t i = 0; i < host_.ports.size(); ++i) {
            if (auto status = host_.ports[i]->steering().add_bind(key, host_.owner); !status) {
                for (size_t done = 0; done < i; ++done)
                    (void)host_.ports[done]->steering().remove_bind(key);
                unsteer_binds_locked(socket);
                return status;
            }
        }
        socket.steered_binds.push_back(key);
        listeners_[{to_packet_addr(endpoint.addr), endpoint.port}] = id;
    }
    // The shadow listens too: clients the kernel serves (loopback, frames
    // xlane_steer passes) queue there, and once this process is gone the
    // kernel refuses new connections with RST rather than silence.
    if (::listen(socket.kernel_fd, static_cast<int>(queue)) != 0) {
        unsteer_binds_locked(socket);
        return errno_error("listen on the kernel TCP socket failed");
    }
    tcp::TcpConfig config = socket.config;
    config.mtu = 1500;
    for (uint32_t mtu : port_mtu_) config.mtu = std::min(config.mtu, mtu);
    const tcp::TcpEndpoint listen_at{to_packet_addr(local.addr), local.port};
    socket.listener = std::make_unique<tcp::TcpListener>(config, listen_at, queue);
    update_readiness_locked(socket);
    return {};
}

Status TcpEngine::hand_listener_to_kernel(TcpSocketId id) {
    OperationLock lock(*this);
    auto found = find_locked(id);
    if (!found) return found.error();
    Socket& socket = *found.value();
    if (!socket.listener) return make_error(EINVAL, "not a listening socket");
    unsteer_binds_locked(socket);
    return {};
}

Result<UniqueFd> TcpEngine::hand_connection_to_kernel(TcpSocketId id, int kernel_fd) {
    OperationLock lock(*this);
    auto found = find_locked(id);
    if (!found) return found.error();
    Socket& socket = *found.value();
    Flow* flow = flow_of_locked(socket);
    if (flow == nullptr || !socket.local || !socket.remote)
        return make_error(ENOTCONN, "no connection to hand over");
    const std::optional<tcp::HandoverState> state = flow->conn->handover_state(now());
    if (!state)
        return make_error(EBUSY, "the connection is not ESTABLISHED with both directions open");
    // Frames wait on the RX rings meanwhile (the engine mutex is held): the
    // repaired socket is complete before the first of them reaches it.
    if (auto s = repair_into_kernel(kernel_fd, socket.family, *socket.local, *socket.remote, *state);
        !s)
        return s.error();
    const tcp::FourTuple tuple = flow->conn->tuple();
    forget_handed_over_locked(*flow);
    flows_.erase(tuple);
    UniqueFd event = std::move(socket.event);
    sockets_.erase(id);
    return event;
}

TcpEngine::OrphanHandover TcpEngine::hand_orphans_to_kernel() {
    OperationLock lock(*this);
    const tcp::Instant t = now();
    OrphanHandover result;
    for (auto it = flows_.begin(); it != flows_.end();) {
        Flow& flow = *it->second;
        std::optional<tcp::HandoverState> state;
        if (flow.owner == 0 && flow.listener == 0) state = flow.conn->orphan_handover_state(t);
        if (!state) {
            ++it;
            continue;
        }
        const tcp::FourTuple tuple = flow.conn->tuple();
        const Endpoint local{from_packet_addr(tuple.local.addr), tuple.local.port};
        const Endpoint remote{from_packet_addr(tuple.remote.addr), tuple.remote.port};
        const int family = local.addr.is_v4() ? AF_INET : AF_INET6;
        UniqueFd kernel(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP));
        if (kernel && flow.reservation) copy_reuse_options(flow.reservation.get(), kernel.get());
        Status repaired = kernel ? repair_into_kernel(kernel.get(), family, local, remote, *state)
                                 : errno_error("a TCP socket for the hand-over");
        if (!repaired) {
            if (result.kept++ == 0) result.first_error = repaired.error().describe();
            ++it;  // it stays for finish_closing()
            continue;
        }
        // The peer's FIN was acknowledged already: once ours is, Linux should
        // close at once (TCP_LINGER2 < 0) rather than wait in FIN-WAIT-2 for
        // a FIN that will not come again.
        if (state->peer_fin) {
            const int no_fin_wait2 = -1;
            (void)::setsockopt(kernel.get(), IPPROTO_TCP, TCP_LINGER2, &no_fin_wait2,
                               sizeof(no_fin_wait2));
        }
        // Closing the repaired socket (when `kernel` goes) queues Linux's FIN
        // behind the data, at the sequence number ours had.
        forget_handed_over_locked(flow);
        it = flows_.erase(it);
        ++result.handed;
    }
    return result;
}

void TcpEngine::forget_handed_over_locked(Flow& flow) {
    forget_flow_locked(flow);
    handed_over_.insert(flow.conn->tuple());
}

void TcpEngine::unsteer_binds_locked(Socket& socket) {
    for (const BindKey& key : socket.steered_binds) {
        for (const auto& port : host_.ports) (void)port->steering().remove_bind(key);
        listeners_.erase({to_packet_addr(key.local.addr), key.local.port});
    }
    socket.steered_binds.clear();
}

TcpSocketId TcpEngine::listener_for_locked(const packet::Ipv6Addr& addr, uint16_t port) const {
    auto it = listeners_.find({addr, port});
    if (it == listeners_.end()) {
        const bool v4 = tcp::is_ipv4_mapped(addr);
        it =
            listeners_.find({to_packet_addr(v4 ? IpAddress::any_v4() : IpAddress::any_v6()), port});
    }
    return it == listeners_.end() ? 0 : it->second;
}

Result<Endpoint> TcpEngine::connect(TcpSocketId id, const Endpoint& remote) {
    std::optional<Endpoint> local;
    {
        OperationLock lock(*this);
        auto found = find_locked(id);
        if (!found) return found.error();
        Socket& socket = *found.value();
        if (socket.listener) return make_error(EISCONN, "a listening socket cannot connect");
        if (socket.tuple) {
            const Flow* flow = flow_of_locked(socket);
            if (flow != nullptr && flow->conn->state() == tcp::TcpState::kSynSent)
                return make_error(EALREADY, "the connection attempt is in progress");
            return make_error(EISCONN, "the socket is already connected");
        }
        if (auto address = to_socket_address(socket.family, remote); !address)
            return address.error();
        if (socket.family == AF_INET6 && socket.v6only && remote.addr.is_v4())
            return make_error(ENETUNREACH, "an IPV6_V6ONLY socket cannot reach IPv4");
        local = socket.local;
    }
    // Route and neighbour outside the engine mutex (netlink round trips).
    auto route = host_.routes->resolve(remote.addr);
    if (!route) return route.error();
    InterfacePort* port = nullptr;
    if (route->kind == net::RouteKind::kUnicast) port = port_for_ifindex(route->ifindex);
    if (port == nullptr)
        return make_error(ENETUNREACH, remote.to_string() +
                                           " is not routed through an interface "
                                           "the engine serves");
    tcp::FrameAddressing addressing;
    addressing.src_mac = port->mac();
    auto neighbour = host_.neighbours->lookup(route->ifindex, route->next_hop);
    if (!neighbour) return neighbour.error();
    if (neighbour->state == net::NeighbourState::kResolved) {
        addressing.dst_mac = neighbour->mac;
    } else {
        auto mac =
            host_.neighbours->wait_resolved(route->ifindex, route->next_hop, host_.neighbour_wait);
        if (!mac)
            return make_error(EHOSTUNREACH, "no link-layer address for " + remote.to_string());
        addressing.dst_mac = mac.value();
    }

    OperationLock lock(*this);
    auto found = find_locked(id);
    if (!found) return found.error();
    Socket& socket = *found.value();
    if (socket.tuple) return make_error(EISCONN, "the socket got connected meanwhile");
    if (!socket.local) {
        // The kernel socket reserves the ephemeral port (bound, never connected).
        const Endpoint source{route->source, 0};
        auto address = to_socket_address(socket.family, source);
        if (!address) return address.error();
        if (::bind(socket.kernel_fd, address->get(), address->length) != 0)
            return errno_error("cannot reserve a local port for " + remote.to_string());
        auto bound = engine::local_endpoint(socket.kernel_fd);
        if (!bound) return bound.error();
        socket.local = bound.value();
    }
    Endpoint source = *socket.local;
    if (source.addr.is_any()) source.addr = route->source;
    const tcp::FourTuple tuple{{to_packet_addr(source.addr), source.port},
                               {to_packet_addr(remote.addr), remote.port}};
    if (flows_.count(tuple) != 0)
        return make_error(EADDRNOTAVAIL, "the 4-tuple " + source.to_string() + " -> " +
                                             remote.to_string() + " is in use");
    const FlowKey key{L4Proto::tcp, source, remote};
    for (size_t i = 0; i < host_.ports.size(); ++i) {
        if (auto status = host_.ports[i]->steering().add_flow(key, host_.owner); !status) {
            for (size_t done = 0; done < i; ++done)
                (void)host_.ports[done]->steering().remove_flow(key);
            return status.error();
        }
    }
    tcp::TcpConfig config = socket.config;
    // A segment must fit in one UMEM frame on the way out: above that (a
    // jumbo MTU) every full segment would be dropped unsent.
    const uint32_t frame_mtu =
        port->queue(0).tx_frame_room() - static_cast<uint32_t>(packet::kEthHeaderLen);
    config.mtu = std::min(route->mtu != 0 ? route->mtu : 1500, frame_mtu);
    auto flow = std::make_unique<Flow>();
    flow->conn = tcp::TcpConnection::connect(config, tuple, now());
    flow->owner = id;
    flow->port = port;
    flow->addressing = addressing;
    flow->steered = key;
    Flow& inserted = *flows_.emplace(tuple, std::move(flow)).first->second;
    socket.tuple = tuple;
    socket.remote = remote;
    service_locked(inserted, now());
    return source;
}

Result<TcpSocketId> TcpEngine::accept(TcpSocketId id, int kernel_fd) {
    UniqueFd owned;
    if (kernel_fd < 0) {
        int family = AF_INET;
        {
            OperationLock lock(*this);
            auto found = find_locked(id);
            if (!found) return found.error();
            family = found.value()->family;
        }
        owned.reset(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP));
        if (!owned) return errno_error("cannot create the accepted socket's kernel socket");
        kernel_fd = owned.get();
    }
    UniqueFd event(move_fd_high(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)));
    if (!event) return errno_error("cannot create the socket's readiness eventfd");

    OperationLock lock(*this);
    auto found = find_locked(id);
    if (!found) return found.error();
    Socket& listener = *found.value();
    if (!listener.listener) return make_error(EINVAL, "the socket is not listening");
    std::shared_ptr<tcp::TcpConnection> conn = listener.listener->accept();
    update_readiness_locked(listener);
    if (!conn) return make_error(EAGAIN, "no connection waits to be accepted");
    auto it = flows_.find(conn->tuple());
    if (it == flows_.end()) return make_error(ECONNABORTED, "the connection went away");
    Flow& flow = *it->second;
    const TcpSocketId new_id = next_id_++;
    auto socket =
        std::make_unique<Socket>(listener.family, kernel_fd, std::move(owned), std::move(event));
    socket->v6only = listener.v6only;
    socket->config = listener.config;
    const tcp::FourTuple& tuple = conn->tuple();
    socket->tuple = tuple;
    socket->local = Endpoint{from_packet_addr(tuple.local.addr), tuple.local.port};
    socket->remote = Endpoint{from_packet_addr(tuple.remote.addr), tuple.remote.port};
    flow.owner = new_id;
    flow.listener = 0;
    // Its own 5-tuple entry, so it stays steered here after the listener closes.
    const FlowKey key{L4Proto::tcp, *socket->local, *socket->remote};
    bool steered = true;
    for (const auto& port : host_.ports)
        if (!port->steering().add_flow(key, host_.owner)) steered = false;
    if (steered) flow.steered = key;
    if (socket->config.nodelay) conn->set_nodelay(true, now());
    Socket& added = *sockets_.emplace(new_id, std::move(socket)).first->second;
    update_readiness_locked(added);
    return new_id;
}

// ---------------------------------------------------------------- data

Result<size_t> TcpEngine::send(TcpSocketId id, std::span<const iovec> data) {
    OperationLock lock(*this);
    // ACKs waiting in the rings free send buffer room for this call (as
    // Linux's release_sock() processes the backlog); looked up after, since
    // they may also end the connection.
    if (host_.take_rx_for_send_locked) host_.take_rx_for_send_locked();
    auto found = find_locked(id);
    if (!found) return found.error();
    Flow* flow = flow_of_locked(*found.value());
    if (flow == nullptr)
        return make_error(found.value()->listener ? ENOTCONN : EPIPE,
                          found.value()->listener ? "a listening socket sends nothing"
                                                  : "the socket is not connected");
    // As Linux: a failed connection's error is reported once (send, recv or
    // SO_ERROR); after that, send says EPIPE (tcp_sendmsg: sk_err, else EPIPE).
    if (flow->conn->state() == tcp::TcpState::kClosed && found.value()->error_taken)
        return make_error(EPIPE, "the TCP connection is closed");
    const tcp::Instant t = now();
    size_t total = 0;
    int error = 0;
    for (const iovec& part : data) {
        const std::span<const uint8_t> bytes(static_cast<const uint8_t*>(part.iov_base),
                                             part.iov_len);
        const tcp::IoResult result = flow->conn->send(bytes, t);
        total += result.bytes;
        if (result.error != 0) {
            error = result.error;
            break;
        }
        if (result.bytes < bytes.size()) break;
    }
    service_locked(*flow, t);
    if (total > 0) {
        // A long send (a window's worth of wake-ups, hundreds of us) outlasts
        // the lease taken above: what came meanwhile goes in now, and the
        // lease counts from here (flow is not used after: RX may end it).
        // The bytes are queued whatever happens to it: a failure here (no
        // memory for a frame's work) must not turn this call into an error
        // that a retry would answer with the same bytes again.
        try {
            if (host_.take_rx_for_send_locked) host_.take_rx_for_send_locked();
        } catch (const std::bad_alloc&) {
        }
        return total;
    }
    if (error == 0) return size_t{0};
    // Reported by this call, when it is the connection's error (not the
    // EPIPE of a write side shut down, which leaves a later reset to report).
    if (error != EAGAIN && flow->conn->state() == tcp::TcpState::kClosed) {
        found.value()->error_taken = true;
        update_readiness_locked(*found.value());
    }
    return make_error(error, "TCP send failed");
}

Result<size_t> TcpEngine::receive(TcpSocketId id, std::span<const iovec> buffer, bool peek) {
    OperationLock lock(*this);
    auto found = find_locked(id);
    if (!found) return found.error();
    Flow* flow = flow_of_locked(*found.value());
    if (flow == nullptr) return make_error(ENOTCONN, "the socket is not connected");
    if (flow->conn->readable_bytes() == 0) {
        host_.poll_rx_locked();
        found = find_locked(id);
        if (!found) return found.error();
        flow = flow_of_locked(*found.value());
        if (flow == nullptr) return make_error(ENOTCONN, "the connection went away");
    }
    Socket& socket = *found.value();
    const tcp::Instant t = now();
    size_t total = 0;
    if (peek) {
        for (const iovec& part : buffer) {
            const size_t got = flow->conn->peek(
                total, std::span(static_cast<uint8_t*>(part.iov_base), part.iov_len));
            total += got;
            if (got < part.iov_len) break;
        }
        if (total > 0) return total;
    } else {
        for (const iovec& part : buffer) {
            const tcp::IoResult result =
                flow->conn->recv(std::span(static_cast<uint8_t*>(part.iov_base), part.iov_len), t);
            total += result.bytes;
            if (result.bytes < part.iov_len) break;
        }
        if (total > 0) {
            service_locked(*flow, t);
            return total;
        }
    }
    if (socket.read_shutdown) return size_t{0};
    const tcp::TcpConnection& conn = *flow->conn;
    // ECONNRESET & co. once, then end of stream (as Linux's sk_err). After
    // the peer's FIN, end of stream comes first and the error (EPIPE from a
    // reset in CLOSE-WAIT) stays for send and SO_ERROR: tcp_recvmsg tests
    // SOCK_DONE before sk_err.
    if (conn.state() == tcp::TcpState::kClosed && conn.error() != 0 && !socket.error_taken &&
        !conn.fin_received()) {
        socket.error_taken = true;
        update_readiness_locked(socket);
        return make_error(conn.error(), "the TCP connection failed");
    }
    if (conn.readable()) return size_t{0};  // end of stream
    return make_error(EAGAIN, "no data waiting");
}

Status TcpEngine::shutdown(TcpSocketId id, int how) {
    OperationLock lock(*this);
    auto found = find_locked(id);
    if (!found) return found.error();
    Socket& socket = *found.value();
    Flow* flow = flow_of_locked(socket);
    if (flow == nullptr) return make_error(ENOTCONN, "the socket is not connected");
    const bool read = how == SHUT_RD || how == SHUT_RDWR;
    const bool write = how == SHUT_WR || how == SHUT_RDWR;
    const tcp::Instant t = now();
    if (const int error = flow->conn->shutdown(read, write, t); error != 0)
        return make_error(error, "shutdown failed");
    if (read) socket.read_shutdown = true;
    if (write) socket.write_shutdown = true;
    service_locked(*flow, t);
    return {};
}

Status TcpEngine::close(TcpSocketId id, bool abort) {
    OperationLock lock(*this);
    auto found = find_locked(id);
    if (!found) return found.error();
    Socket& socket = *found.value();
    const tcp::Instant t = now();
    if (socket.listener) {
        // As Linux: connections nobody accepted are reset.
        unsteer_binds_locked(socket);
        for (auto& [tuple, flow] : flows_) {
            if (flow->listener != id) continue;
            flow->listener = 0;
            flow->conn->abort(t);
            service_locked(*flow, t);
        }
    }
    if (Flow* flow = flow_of_locked(socket)) {
        flow->owner = 0;
        // The port stays reserved until the orphan is done (FIN-WAIT, TIME-WAIT).
        if (!socket.owned_kernel_fd)
            flow->reservation.reset(::fcntl(socket.kernel_fd, F_DUPFD_CLOEXEC, 0));
        else
            flow->reservation = std::move(socket.owned_kernel_fd);
        if (abort)
            flow->conn->abort(t);
        else
            flow->conn->close(t);
        service_locked(*flow, t);
    }
    sockets_.erase(id);
    reap_locked();
    return {};
}

// ---------------------------------------------------------------- queries

Result<uint32_t> TcpEngine::poll_mask(TcpSocketId id) {
    OperationLock lock(*this);
    auto found = find_locked(id);
    if (!found) return found.error();
    return mask_locked(*found.value());
}

namespace {

// POLLPRI (urgent data) never holds: the engine has none to report.
constexpr uint32_t kReadInterest = POLLIN | POLLRDNORM | POLLRDBAND;
constexpr uint32_t kWriteInterest = POLLOUT | POLLWRNORM | POLLWRBAND;

// One holder more (`held`) or less of each interest `events` names.
void count_holders(uint32_t& holders, bool named, bool held) {
    if (!named) return;
    if (held)
        ++holders;
    else if (holders > 0)
        --holders;
}

}  // namespace

Status TcpEngine::change_interest(TcpSocketId id, uint32_t events, bool held) {
    OperationLock lock(*this);
    auto found = find_locked(id);
    if (!found) return found.error();
    Socket& socket = *found.value();
    const uint32_t before = socket.interest();
    count_holders(socket.read_holders, (events & kReadInterest) != 0, held);
    count_holders(socket.rdhup_holders, (events & POLLRDHUP) != 0, held);
    count_holders(socket.write_holders, (events & kWriteInterest) != 0, held);
    // The eventfd can only change when the union of the interests did.
    if (socket.interest() != before) update_readiness_locked(socket);
    return {};
}

Status TcpEngine::watch_edges(TcpSocketId id) {
    OperationLock lock(*this);
    auto found = find_locked(id);
    if (!found) return found.error();
    found.value()->edges_watched = true;
    return {};
}

Result<int> TcpEngine::take_error(TcpSocketId id) {
    OperationLock lock(*this);
    auto found = find_locked(id);
    if (!found) return found.error();
    Socket& socket = *found.value();
    const Flow* flow = flow_of_locked(socket);
    if (flow == nullptr || socket.error_taken || flow->conn->error() == 0) return 0;
    socket.error_taken = true;
    update_readiness_locked(socket);
    return flow->conn->error();
}

Result<int> TcpEngine::event_fd(TcpSocketId id) const {
    std::lock_guard lock(*host_.mutex);  // reads only
    auto found = find_locked(id);
    if (!found) return found.error();
    return found.value()->event.get();
}

Result<int> TcpEngine::kernel_fd(TcpSocketId id) const {
    std::lock_guard lock(*host_.mutex);  // reads only
    auto found = find_locked(id);
    if (!found) return found.error();
    return found.value()->kernel_fd;
}

Result<Endpoint> TcpEngine::local_address(TcpSocketId id) const {
    std::lock_guard lock(*host_.mutex);  // reads only
    auto found = find_locked(id);
    if (!found) return found.error();
    const Socket& socket = *found.value();
    if (socket.tuple)
        return Endpoint{from_packet_addr(socket.tuple->local.addr), socket.tuple->local.port};
    if (socket.local) return *socket.local;
    return make_error(EINVAL, "the socket is not bound");
}

Result<Endpoint> TcpEngine::peer_address(TcpSocketId id) const {
    std::lock_guard lock(*host_.mutex);  // reads only
    auto found = find_locked(id);
    if (!found) return found.error();
    const Flow* flow = flow_of_locked(*found.value());
    if (flow == nullptr || flow->conn->state() == tcp::TcpState::kSynSent ||
        flow->conn->state() == tcp::TcpState::kClosed)
        return make_error(ENOTCONN, "the socket is not connected");
    return *found.value()->remote;
}

Result<tcp::TcpInfo> TcpEngine::info(TcpSocketId id) const {
    std::lock_guard lock(*host_.mutex);  // reads only
    auto found = find_locked(id);
    if (!found) return found.error();
    const Flow* flow = flow_of_locked(*found.value());
    if (flow == nullptr) {
        tcp::TcpInfo info;
        info.state = found.value()->listener ? tcp::TcpState::kListen : tcp::TcpState::kClosed;
        return info;
    }
    return flow->conn->info(now());
}

Result<size_t> TcpEngine::readable_bytes(TcpSocketId id) const {
    std::lock_guard lock(*host_.mutex);  // reads only
    auto found = find_locked(id);
    if (!found) return found.error();
    const Flow* flow = flow_of_locked(*found.value());
    return flow == nullptr ? size_t{0} : flow->conn->readable_bytes();
}

Result<size_t> TcpEngine::send_queue_bytes(TcpSocketId id) const {
    std::lock_guard lock(*host_.mutex);  // reads only
    auto found = find_locked(id);
    if (!found) return found.error();
    const Flow* flow = flow_of_locked(*found.value());
    return flow == nullptr ? size_t{0} : flow->conn->send_queue_bytes();
}

Result<size_t> TcpEngine::unsent_bytes(TcpSocketId id) const {
    std::lock_guard lock(*host_.mutex);  // reads only
    auto found = find_locked(id);
    if (!found) return found.error();
    const Flow* flow = flow_of_locked(*found.value());
    return flow == nullptr ? size_t{0} : size_t{flow->conn->unsent_bytes()};
}

Status TcpEngine::set_nodelay(TcpSocketId id, bool on) {
    OperationLock lock(*this);
    auto found = find_locked(id);
    if (!found) return found.error();
    found.value()->config.nodelay = on;
    if (Flow* flow = flow_of_locked(*found.value())) {
        const tcp::Instant t = now();
        flow->conn->set_nodelay(on, t);
        service_locked(*flow, t);
    }
    return {};
}

Status TcpEngine::set_keepalive(TcpSocketId id, const tcp::KeepaliveConfig& keepalive) {
    OperationLock lock(*this);
    auto found = find_locked(id);
    if (!found) return found.error();
    found.value()->config.keepalive = keepalive;
    if (Flow* flow = flow_of_locked(*found.value())) {
        const tcp::Instant t = now();
        flow->conn->set_keepalive(keepalive, t);
        service_locked(*flow, t);
    }
    return {};
}

Status TcpEngine::set_options(TcpSocketId id, const tcp::SocketOptions& options) {
    OperationLock lock(*this);
    auto found = find_locked(id);
    if (!found) return found.error();
    Socket& socket = *found.value();
    tcp::apply_options(socket.config, options);
    if (socket.listener) socket.listener->set_options(options);
    if (Flow* flow = flow_of_locked(socket)) {
        const tcp::Instant t = now();
        flow->conn->set_options(options, t);
        service_locked(*flow, t);
    }
    return {};
}

size_t TcpEngine::connection_count() const {
    std::lock_guard lock(*host_.mutex);  // reads only
    return flows_.size();
}

// Linux's close waits while the state is one of these (sk_stream_wait_close).
static bool fin_unacknowledged(tcp::TcpState state) {
    return state == tcp::TcpState::kFinWait1 || state == tcp::TcpState::kClosing ||
           state == tcp::TcpState::kLastAck;
}

Result<tcp::FourTuple> TcpEngine::connection_tuple(TcpSocketId id) const {
    std::lock_guard lock(*host_.mutex);  // reads only
    auto found = find_locked(id);
    if (!found) return found.error();
    const Flow* flow = flow_of_locked(*found.value());
    if (flow == nullptr) return make_error(ENOTCONN, "the socket has no connection");
    return flow->conn->tuple();
}

bool TcpEngine::close_acknowledged(const tcp::FourTuple& tuple) const {
    std::lock_guard lock(*host_.mutex);  // reads only
    auto it = flows_.find(tuple);
    return it == flows_.end() || !fin_unacknowledged(it->second->conn->state());
}

size_t TcpEngine::finish_closing(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        size_t unfinished = 0;
        {
            OperationLock lock(*this);
            for (const auto& [tuple, flow] : flows_) {
                const tcp::TcpState state = flow->conn->state();
                if (flow->owner == 0 && flow->listener == 0 && state != tcp::TcpState::kTimeWait &&
                    state != tcp::TcpState::kClosed && state != tcp::TcpState::kFinWait2)
                    ++unfinished;
            }
        }
        if (unfinished == 0 || std::chrono::steady_clock::now() >= deadline) return unfinished;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

uint64_t TcpEngine::segments_dropped_tx() const {
    std::lock_guard lock(*host_.mutex);  // reads only
    return tx_dropped_;
}

// ---------------------------------------------------------------- readiness

uint32_t TcpEngine::mask_locked(const Socket& socket) const {
    if (socket.listener) return socket.listener->acceptable() ? POLLIN | POLLRDNORM : 0;
    const Flow* flow = flow_of_locked(socket);
    // A socket never connected: Linux's tcp_poll says HUP (TCP_CLOSE) and OUT.
    if (flow == nullptr) return POLLOUT | POLLWRNORM | POLLHUP;
    const tcp::TcpConnection& conn = *flow->conn;
    uint32_t mask = 0;
    if (conn.error() != 0 && !socket.error_taken) mask |= POLLERR;
    using tcp::TcpState;
    const TcpState state = conn.state();
    if (state == TcpState::kSynSent || state == TcpState::kSynReceived) return mask;
    const bool fin_received = state == TcpState::kCloseWait || state == TcpState::kLastAck ||
                              state == TcpState::kClosing || state == TcpState::kTimeWait ||
                              state == TcpState::kClosed;
    const bool fin_sent = socket.write_shutdown || state == TcpState::kFinWait1 ||
                          state == TcpState::kFinWait2 || state == TcpState::kClosing ||
                          state == TcpState::kTimeWait || state == TcpState::kLastAck ||
                          state == TcpState::kClosed;
    const bool read_closed = fin_received || socket.read_shutdown;
    if (conn.readable_bytes() > 0 || read_closed) mask |= POLLIN | POLLRDNORM;
    if (read_closed) mask |= POLLRDHUP;
    if (read_closed && fin_sent) mask |= POLLHUP;
    if (fin_sent || conn.writable()) mask |= POLLOUT | POLLWRNORM;
    return mask;
}

void TcpEngine::update_readiness_locked(Socket& socket, bool edge) {
    const bool ready = (mask_locked(socket) & (socket.interest() | POLLERR | POLLHUP)) != 0;
    if (ready == socket.signalled && !(ready && edge && socket.edges_watched)) return;
    socket.signalled = ready;
    uint64_t value = 1;
    if (ready)
        (void)!::write(socket.event.get(), &value, sizeof(value));
    else
        (void)!::read(socket.event.get(), &value, sizeof(value));
}

}  // namespace xlane::engine
