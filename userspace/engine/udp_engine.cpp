// UdpEngine: creation, the socket table, bind/connect/close with their
// steering entries, and the send path's decisions (route, neighbour, path).
#include "engine/udp_engine.h"

#include <dirent.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <fstream>

#include "bpf/bpffs.h"
#include "common/high_fd.h"
#include "engine/engine_socket.h"
#include "engine/socket_address.h"
#include "udp/iovec_io.h"
#include "xdp/netdev.h"

namespace xlane::engine {
namespace {

// Linux's floor for SO_RCVBUF (SOCK_MIN_RCVBUF on 64-bit).
constexpr size_t kMinRcvbuf = 2304;

size_t read_sysctl(const char* path, size_t fallback) {
    std::ifstream in(path);
    size_t value = 0;
    return (in >> value) ? value : fallback;
}

// Interfaces of this namespace with an xlane pin directory.
Result<std::vector<std::string>> attached_interfaces() {
    auto netns = current_netns_id();
    if (!netns) return netns.error();
    const std::string dir = pin_root() + "/" + netns.value();
    std::vector<std::string> names;
    DIR* listing = ::opendir(dir.c_str());
    if (listing == nullptr) return names;
    while (const dirent* entry = ::readdir(listing)) {
        const std::string name = entry->d_name;
        if (name == "." || name == ".." || name == "loopback") continue;
        if (interface_exists(name)) names.push_back(name);
    }
    ::closedir(listing);
    return names;
}

Status set_int_option(int fd, int level, int option, int value, const char* name) {
    if (::setsockopt(fd, level, option, &value, sizeof(value)) != 0)
        return errno_error(std::string("setsockopt(") + name + ") on the kernel UDP socket failed");
    return {};
}

Result<int> get_int_option(int fd, int level, int option, const char* name) {
    int value = 0;
    socklen_t length = sizeof(value);
    if (::getsockopt(fd, level, option, &value, &length) != 0)
        return errno_error(std::string("getsockopt(") + name + ") failed");
    return value;
}

Endpoint wildcard_of(int family) {
    return Endpoint{family == AF_INET ? IpAddress::any_v4() : IpAddress::any_v6(), 0};
}

}  // namespace

UdpEngine::UdpEngine(const UdpEngineConfig& config)
    : config_(config), reassembler_(config.reassembly) {}

Result<std::unique_ptr<UdpEngine>> UdpEngine::create(const UdpEngineConfig& config) {
    std::unique_ptr<UdpEngine> engine(new UdpEngine(config));
    auto owner = SteerOwner::current_process();
    if (!owner) return owner.error();
    engine->owner_ = owner.value();

    std::vector<std::string> names = config.interfaces;
    if (names.empty()) {
        auto attached = attached_interfaces();
        if (!attached) return attached.error();
        names = std::move(attached).value();
    }
    if (names.empty())
        return make_error(ENODEV,
                          "xlane is attached to no interface of this network namespace; run "
                          "`xlane attach IFACE` first");
    for (const std::string& name : names) {
        auto port = InterfacePort::open(name, config.xsk);
        if (!port) return port.error();
        engine->ports_.push_back(std::move(port).value());
    }

    auto routes = net::RouteResolver::open();
    if (!routes) return routes.error();
    engine->routes_ = std::move(routes).value();
    auto neighbours = net::NeighbourTable::open();
    if (!neighbours) return neighbours.error();
    engine->neighbours_ = std::move(neighbours).value();

    engine->kernel_sockets_epoll_.reset(move_fd_high(::epoll_create1(EPOLL_CLOEXEC)));
    if (!engine->kernel_sockets_epoll_) return errno_error("epoll_create1 failed");
    engine->default_rcvbuf_ = read_sysctl("/proc/sys/net/core/rmem_default", 212992);
    engine->rmem_max_ = read_sysctl("/proc/sys/net/core/rmem_max", 212992);
    // Like the kernel, start IP ids somewhere unpredictable.
    if (::getrandom(&engine->ip_id_, sizeof(engine->ip_id_), 0) != sizeof(engine->ip_id_))
        engine->ip_id_ = static_cast<uint32_t>(::getpid());
    engine->kernel_rx_scratch_.resize(udp::DatagramQueue::kMaxPayload);

    TcpEngineHost tcp_host;
    tcp_host.mutex = &engine->mutex_;
    tcp_host.ports = engine->ports_;
    tcp_host.owner = engine->owner_;
    tcp_host.routes = engine->routes_.get();
    tcp_host.neighbours = engine->neighbours_.get();
    tcp_host.poll_rx_locked = [self = engine.get()] { self->poll_rx_locked(); };
    tcp_host.take_rx_for_send_locked = [self = engine.get()] { self->take_rx_for_send_locked(); };
    tcp_host.neighbour_wait = config.neighbour_wait;
    engine->tcp_ = std::make_unique<TcpEngine>(tcp_host, config.tcp_faults);
    if (auto status = engine->tcp_->init(); !status) return status.error();

    if (config.progress_thread) {
        std::vector<int> fds;
        fds.push_back(engine->tcp_->timer_fd());
        fds.push_back(engine->kernel_sockets_epoll_.get());
        fds.push_back(engine->routes_->fd());
        fds.push_back(engine->neighbours_->fd());
        std::vector<int> rx_fds;
        for (const auto& port : engine->ports_)
            for (const auto& queue : port->queues()) rx_fds.push_back(queue->fd());
        auto thread = ProgressThread::start(
            std::move(fds), std::move(rx_fds), &engine->rx_takers_, config.progress_tick,
            [self = engine.get()] {
                self->progress_round();
                self->report_usage_when_due();
            },
            config.on_progress_thread_start);
        if (!thread) return thread.error();
        engine->progress_ = std::move(thread).value();
    }
    return engine;
}

UdpEngine::~UdpEngine() {
    progress_.reset();
    std::lock_guard lock(mutex_);
    for (auto& [id, socket] : sockets_) unsteer_locked(*socket);
    sockets_.clear();
    flush_tx_locked();
}

void UdpEngine::rx_polling_stopped() {
    if (rx_takers_.poller_until_ns.load(std::memory_order_relaxed) == 0) return;
    rx_takers_.poller_until_ns.store(0, std::memory_order_relaxed);
    if (rx_takers_.spinners.load() == 0 && progress_) progress_->rx_spinners_gone();
}

bool UdpEngine::rx_left_to_takers() const {
    return rx_takers_.any();
}

void UdpEngine::rx_spin_end(bool to_sleep) {
    // A thread that goes to sleep polls no more, whatever it did before.
    if (to_sleep) {
        rx_takers_.poller_until_ns.store(0, std::memory_order_relaxed);
    } else if (progress_) {
        renew_poller_lease();  // nobody else to leave the rings to otherwise
    }
    if (rx_takers_.spinners.fetch_sub(1) == 1 && to_sleep && progress_) progress_->rx_spinners_gone();
}

Result<SocketId> UdpEngine::open(int family) {
    if (family != AF_INET && family != AF_INET6)
        return make_error(EAFNOSUPPORT, "the UDP engine serves AF_INET and AF_INET6 only");
    UniqueFd fd(::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP));
    if (!fd) return errno_error("cannot create the kernel UDP socket");
    // Destination address and interface of datagrams the kernel delivers.
    auto status =
        family == AF_INET
            ? set_int_option(fd.get(), IPPROTO_IP, IP_PKTINFO, 1, "IP_PKTINFO")
            : set_int_option(fd.get(), IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO");
    if (!status) return status.error();
    const int raw = fd.get();
    return add_socket(raw, std::move(fd), family);
}

Result<SocketId> UdpEngine::adopt(int kernel_fd) {
    auto domain = get_int_option(kernel_fd, SOL_SOCKET, SO_DOMAIN, "SO_DOMAIN");
    if (!domain) return domain.error();
    auto protocol = get_int_option(kernel_fd, SOL_SOCKET, SO_PROTOCOL, "SO_PROTOCOL");
    if (!protocol) return protocol.error();
    if ((domain.value() != AF_INET && domain.value() != AF_INET6) ||
        protocol.value() != IPPROTO_UDP)
        return make_error(EPROTONOSUPPORT, "only IPv4/IPv6 UDP sockets can be adopted");
    auto local = local_endpoint(kernel_fd);
    if (!local) return local.error();
    if (local->port != 0)
        return make_error(EINVAL, "an adopted UDP socket must not be bound yet (it is bound to " +
                                      local->to_string() + ")");
    return add_socket(kernel_fd, UniqueFd(), domain.value());
}

Result<SocketId> UdpEngine::add_socket(int kernel_fd, UniqueFd owned, int family) {
    UniqueFd event(move_fd_high(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)));
    if (!event) return errno_error("cannot create the socket's readiness eventfd");
    bool v6only = false;
    if (family == AF_INET6) {
        auto value = get_int_option(kernel_fd, IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY");
        if (!value) return value.error();
        v6only = value.value() != 0;
    }
    std::lock_guard lock(mutex_);
    const SocketId id = next_id_++;
    epoll_event interest{};
    interest.events = EPOLLIN;
    interest.data.u32 = id;
    if (::epoll_ctl(kernel_sockets_epoll_.get(), EPOLL_CTL_ADD, kernel_fd, &interest) != 0)
        return errno_error("cannot watch the kernel UDP socket");
    auto socket = std::make_unique<Socket>(family, kernel_fd, std::move(owned), std::move(event),
                                           default_rcvbuf_);
    socket->v6only = v6only;
    sockets_.emplace(id, std::move(socket));
    return id;
}

Result<UdpEngine::Socket*> UdpEngine::find_locked(SocketId id) const {
    auto it = sockets_.find(id);
    if (it == sockets_.end())
        return make_error(EBADF, "no UDP engine socket " + std::to_string(id));
    return it->second.get();
}

Status UdpEngine::set_v6only(SocketId id, bool v6only) {
    std::lock_guard lock(mutex_);
    auto socket = find_locked(id);
    if (!socket) return socket.error();
    Socket& s = *socket.value();
    if (s.family != AF_INET6)
        return make_error(ENOPROTOOPT, "IPV6_V6ONLY needs an AF_INET6 socket");
    if (s.local) return make_error(EINVAL, "IPV6_V6ONLY must be set before bind or connect");
    if (auto status =
            set_int_option(s.kernel_fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only ? 1 : 0, "IPV6_V6ONLY");
        !status)
        return status;
    s.v6only = v6only;
    return {};
}

Result<size_t> UdpEngine::set_rcvbuf(SocketId id, size_t bytes) {
    std::lock_guard lock(mutex_);
    auto socket = find_locked(id);
    if (!socket) return socket.error();
    Socket& s = *socket.value();
    const size_t budget = std::max(std::min(bytes, rmem_max_) * 2, kMinRcvbuf);
    const int requested = static_cast<int>(std::min<size_t>(bytes, INT32_MAX));
    if (auto status = set_int_option(s.kernel_fd, SOL_SOCKET, SO_RCVBUF, requested, "SO_RCVBUF");
        !status)
        return status.error();
    s.queue.set_budget(budget);
    return budget;
}

Result<Endpoint> UdpEngine::bind(SocketId id, const Endpoint& local) {
    std::lock_guard lock(mutex_);
    auto socket = find_locked(id);
    if (!socket) return socket.error();
    if (socket.value()->local) return make_error(EINVAL, "the socket is already bound");
    return bind_locked(id, *socket.value(), local);
}

Result<Endpoint> UdpEngine::bind_locked(SocketId id, Socket& socket, const Endpoint& local) {
    auto address = to_socket_address(socket.family, local);
    if (!address) return address.error();
    if (::bind(socket.kernel_fd, address->get(), address->length) != 0)
        return errno_error("cannot bind the UDP socket to " + local.to_string());
    auto bound = local_endpoint(socket.kernel_fd);
    if (!bound) return bound.error();
    socket.local = bound.value();
    if (auto status = steer_bind_locked(id, socket); !status) return status.error();
    return bound.value();
}

Status UdpEngine::steer_bind_locked(SocketId id, Socket& socket) {
    const Endpoint& local = *socket.local;
    std::vector<BindKey> keys;
    if (socket.family == AF_INET6 && local.addr == IpAddress::any_v6()) {
        keys.push_back(BindKey{L4Proto::udp, local});
        if (!socket.v6only)
            keys.push_back(BindKey{L4Proto::udp, Endpoint{IpAddress::any_v4(), local.port}});
    } else {
        keys.push_back(BindKey{L4Proto::udp, local});
    }
    for (const BindKey& key : keys) {
        for (size_t i = 0; i < ports_.size(); ++i) {
            if (auto status = ports_[i]->steering().add_bind(key, owner_); !status) {
                // Only what this socket entered is removed: on EEXIST the
                // entry belongs to someone else.
                for (size_t done = 0; done < i; ++done)
                    (void)ports_[done]->steering().remove_bind(key);
                unsteer_locked(socket);
                return status;
            }
        }
        socket.steered_binds.push_back(key);
    }
    if (auto status = demux_.add_bound(to_packet_addr(local.addr), local.port, id, socket.v6only);
        !status) {
        unsteer_locked(socket);
        return status;
    }
    socket.demux_bound = true;
    return {};
}

void UdpEngine::unsteer_locked(Socket& socket) {
    // Removal failures leave an entry owned by this process, which the next
    // engine start removes once this process is gone; nothing better to do here.
    for (auto& port : ports_) {
        for (const BindKey& key : socket.steered_binds) (void)port->steering().remove_bind(key);
        if (socket.steered_flow) (void)port->steering().remove_flow(*socket.steered_flow);
    }
    socket.steered_binds.clear();
    socket.steered_flow.reset();
    if (socket.demux_bound)
        demux_.remove_bound(to_packet_addr(socket.local->addr), socket.local->port);
    if (socket.demux_connected)
        demux_.remove_connected(to_packet_addr(socket.local->addr), socket.local->port,
                                to_packet_addr(socket.remote->addr), socket.remote->port);
    socket.demux_bound = socket.demux_connected = false;
}

Result<Endpoint> UdpEngine::connect(SocketId id, const Endpoint& remote) {
    std::lock_guard lock(mutex_);
    auto found = find_locked(id);
    if (!found) return found.error();
    Socket& socket = *found.value();
    auto address = to_socket_address(socket.family, remote);
    if (!address) return address.error();
    if (::connect(socket.kernel_fd, address->get(), address->length) != 0)
        return errno_error("cannot connect the UDP socket to " + remote.to_string());
    auto local = local_endpoint(socket.kernel_fd);
    if (!local) return local.error();
    unsteer_locked(socket);
    socket.local = local.value();
    socket.remote = remote;

    const FlowKey key{L4Proto::udp, local.value(), remote};
    for (size_t i = 0; i < ports_.size(); ++i) {
        if (auto status = ports_[i]->steering().add_flow(key, owner_); !status) {
            for (size_t done = 0; done < i; ++done) (void)ports_[done]->steering().remove_flow(key);
            return status.error();
        }
    }
    socket.steered_flow = key;
    if (auto status = demux_.add_connected(to_packet_addr(local->addr), local->port,
                                           to_packet_addr(remote.addr), remote.port, id);
        !status) {
        unsteer_locked(socket);
        return status.error();
    }
    socket.demux_connected = true;
    return local.value();
}

Result<std::optional<Endpoint>> UdpEngine::disconnect(SocketId id) {
    std::lock_guard lock(mutex_);
    auto found = find_locked(id);
    if (!found) return found.error();
    Socket& socket = *found.value();
    sockaddr unspec{};
    unspec.sa_family = AF_UNSPEC;
    if (::connect(socket.kernel_fd, &unspec, sizeof(unspec)) != 0)
        return errno_error("cannot dissolve the UDP socket's association");
    // Before local/remote change: unsteer_locked removes exactly what they name.
    unsteer_locked(socket);
    socket.remote.reset();
    auto local = local_endpoint(socket.kernel_fd);
    if (!local) return local.error();
    if (local->port == 0) {
        // The port came with connect(); the kernel gave it back (__udp_disconnect).
        socket.local.reset();
        return std::optional<Endpoint>{};
    }
    socket.local = local.value();
    if (auto status = steer_bind_locked(id, socket); !status) return status.error();
    return std::optional<Endpoint>(local.value());
}

// The flows go back to the kernel and the progress thread stops draining the
// kernel socket: what release() and close() share.
void UdpEngine::stop_serving_locked(Socket& socket) {
    unsteer_locked(socket);
    (void)::epoll_ctl(kernel_sockets_epoll_.get(), EPOLL_CTL_DEL, socket.kernel_fd, nullptr);
}

Status UdpEngine::release(SocketId id) {
    std::lock_guard lock(mutex_);
    auto found = find_locked(id);
    if (!found) return found.error();
    stop_serving_locked(*found.value());
    found.value()->released = true;
    return {};
}

Status UdpEngine::close(SocketId id) {
    std::lock_guard lock(mutex_);
    auto found = find_locked(id);
    if (!found) return found.error();
    stop_serving_locked(*found.value());
    sockets_.erase(id);
    // What it sent goes now, not at the next round (the program may exit).
    flush_tx_locked();
    return {};
}

InterfacePort* UdpEngine::port_for_ifindex(uint32_t ifindex) {
    // ports_ never changes after create(): no lock needed to search it.
    for (auto& port : ports_)
        if (port->ifindex() == ifindex) return port.get();
    return nullptr;
}

Result<size_t> UdpEngine::send(SocketId id, std::span<const iovec> payload,
                               const std::optional<Endpoint>& destination, SendFlags flags) {
    const size_t length = udp::iovec_total_length(payload);
    TxPlan plan;
    int family = 0;
    int kernel_fd = -1;
    {
        std::lock_guard lock(mutex_);
        auto found = find_locked(id);
        if (!found) return found.error();
        Socket& socket = *found.value();
        if (destination)
            plan.destination = *destination;
        else if (socket.remote)
            plan.destination = *socket.remote;
        else
            return make_error(EDESTADDRREQ, "the UDP socket is not connected: name a destination");
        if (auto address = to_socket_address(socket.family, plan.destination); !address)
            return address.error();
        if (socket.family == AF_INET6 && socket.v6only && plan.destination.addr.is_v4())
            return make_error(ENETUNREACH, "an IPV6_V6ONLY socket cannot send to IPv4");
        if (!socket.local) {
            auto bound = bind_locked(id, socket, wildcard_of(socket.family));
            if (!bound) return bound.error();
        }
        plan.source = *socket.local;
        family = socket.family;
        kernel_fd = socket.kernel_fd;
    }
    const size_t max_payload =
        plan.destination.addr.is_v4() ? udp::kMaxUdpPayloadV4 : udp::kMaxUdpPayloadV6;
    if (length > max_payload)
        return make_error(
            EMSGSIZE, "a UDP datagram carries at most " + std::to_string(max_payload) + " bytes");

    // Route and neighbour outside the engine mutex (netlink round trips).
    auto route = routes_->resolve(plan.destination.addr);
    InterfacePort* port = nullptr;
    if (route && route->kind == net::RouteKind::kUnicast) port = port_for_ifindex(route->ifindex);
    if (port == nullptr) {
        // Not ours to carry (loopback, another interface, no route): the
        // kernel socket sends it, and reports its errors exactly.
        auto sent = send_via_kernel(kernel_fd, family, payload, destination);
        if (sent) {
            std::lock_guard lock(mutex_);
            if (auto found = find_locked(id); found) ++found.value()->stats.tx_kernel_datagrams;
        }
        return sent;
    }
    if (plan.source.addr.is_any()) plan.source.addr = route->source;
    plan.mtu = route->mtu;
    auto neighbour = neighbours_->lookup(route->ifindex, route->next_hop);
    if (!neighbour) return neighbour.error();
    if (neighbour->state == net::NeighbourState::kResolved) {
        plan.dst_mac = neighbour->mac;
    } else {
        auto mac =
            neighbours_->wait_resolved(route->ifindex, route->next_hop, config_.neighbour_wait);
        if (!mac) {
            // The kernel's UDP also reports success and loses the datagram
            // when ARP/ND gets no answer.
            std::lock_guard lock(mutex_);
            if (auto found = find_locked(id); found) found.value()->count_tx_dropped();
            return length;
        }
        plan.dst_mac = mac.value();
    }

    std::lock_guard lock(mutex_);
    auto found = find_locked(id);
    if (!found) return found.error();
    return transmit_locked(*port, *found.value(), plan, payload, length, flags);
}

Result<int> UdpEngine::event_fd(SocketId id) const {
    std::lock_guard lock(mutex_);
    auto found = find_locked(id);
    if (!found) return found.error();
    return found.value()->event.get();
}

Result<int> UdpEngine::kernel_fd(SocketId id) const {
    std::lock_guard lock(mutex_);
    auto found = find_locked(id);
    if (!found) return found.error();
    return found.value()->kernel_fd;
}

Result<size_t> UdpEngine::queued(SocketId id) const {
    std::lock_guard lock(mutex_);
    auto found = find_locked(id);
    if (!found) return found.error();
    return found.value()->queue.size();
}

Result<size_t> UdpEngine::next_length(SocketId id) {
    std::lock_guard lock(mutex_);
    poll_rx_locked();
    auto found = find_locked(id);
    if (!found) return found.error();
    Socket& socket = *found.value();
    if (socket.queue.empty() && !socket.released) drain_kernel_locked(socket);
    return socket.queue.empty() ? size_t{0} : socket.queue.next_length();
}

Result<SocketStats> UdpEngine::socket_stats(SocketId id) const {
    std::lock_guard lock(mutex_);
    auto found = find_locked(id);
    if (!found) return found.error();
    return found.value()->stats;
}

std::vector<std::pair<std::string, PortStats>> UdpEngine::port_stats() const {
    std::lock_guard lock(mutex_);
    std::vector<std::pair<std::string, PortStats>> out;
    for (const auto& port : ports_) out.emplace_back(port->ifname(), port->stats());
    return out;
}

std::vector<PortUsageSample> UdpEngine::usage() const {
    std::vector<PortUsageSample> out;
    {
        std::lock_guard lock(mutex_);
        for (const auto& port : ports_) {
            PortUsageSample sample{port->ifname(), port->stats(), {}};
            for (const auto& xsk : port->queues())
                sample.queues.push_back(QueueUsageSample{xsk->config().queue, afxdp::usage_of(*xsk)});
            out.push_back(std::move(sample));
        }
    }
    // The socket fds never change after create(): read without the mutex.
    for (size_t p = 0; p < out.size(); ++p) {
        const auto queues = ports_[p]->queues();
        for (size_t q = 0; q < out[p].queues.size() && q < queues.size(); ++q) {
            auto statistics = afxdp::kernel_statistics(queues[q]->fd());
            if (!statistics) continue;
            out[p].queues[q].has_kernel_statistics = true;
            out[p].queues[q].kernel = statistics.value();
        }
    }
    return out;
}

void UdpEngine::report_usage_when_due() {
    if (!config_.on_usage) return;
    const auto now = std::chrono::steady_clock::now();
    if (now < next_usage_report_) return;
    next_usage_report_ = now + config_.usage_interval;
    config_.on_usage(usage());
}

Status UdpEngine::set_drop_counters(SocketId id, DropCounters counters) {
    std::lock_guard lock(mutex_);
    auto found = find_locked(id);
    if (!found) return found.error();
    found.value()->published_drops = counters;
    return {};
}

std::vector<std::string> UdpEngine::interfaces() const {
    std::vector<std::string> out;
    for (const auto& port : ports_) out.push_back(port->ifname());
    return out;
}

std::vector<int> UdpEngine::process_descriptors() const {
    std::vector<int> fds;
    for (const auto& port : ports_) {
        fds.push_back(port->lock_fd());
        for (const auto& queue : port->queues()) fds.push_back(queue->fd());
    }
    fds.push_back(kernel_sockets_epoll_.get());
    if (tcp_) fds.push_back(tcp_->timer_fd());
    if (routes_) fds.push_back(routes_->fd());
    if (neighbours_) fds.push_back(neighbours_->fd());
    return fds;
}

std::vector<int> UdpEngine::rx_descriptors() const {
    std::vector<int> fds;
    for (const auto& port : ports_)
        for (const auto& queue : port->queues()) fds.push_back(queue->fd());
    return fds;
}

StaleRemoval UdpEngine::stale_removed() const {
    StaleRemoval total;
    for (const auto& port : ports_) {
        total.binds += port->stale_removed().binds;
        total.flows += port->stale_removed().flows;
    }
    return total;
}

}  // namespace xlane::engine
