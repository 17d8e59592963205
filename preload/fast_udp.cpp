// The UDP fast path's per-socket lifecycle: the decision at the first bind,
// connect or send (rules, engine, adoption of the kernel socket), options,
// nonblocking mode, dup/close, hand-back to the kernel, exit and fork.
#include "fast_udp.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <new>

#include "engine/socket_address.h"
#include "fast_internal.h"
#include "fast_path.h"
#include "libc_table.h"
#include "log.h"
#include "runtime.h"
#include "stats_hooks.h"

namespace xlane::preload::fast {

static_assert(sizeof(engine::SocketId) == sizeof(FastSocket::id));

namespace {

namespace libc = xlane::preload::libc;

// Serialises the decision of one socket (two threads binding and sending
// at once); striped like the table's locks.
constinit std::array<std::mutex, 64> g_decision_locks{};

std::mutex& decision_lock(int fd) {
    return g_decision_locks[static_cast<size_t>(fd) % g_decision_locks.size()];
}

const char* family_name(int family) {
    return family == AF_INET ? "udp4" : "udp6";
}

std::string what_of(int family, const char* call, const Endpoint& endpoint) {
    return std::string(family_name(family)) + " " + call + " " + endpoint.to_string();
}

// A sockaddr the kernel would take for this socket, as an endpoint; nullopt
// sends the call to libc (which then reports the kernel's own error).
std::optional<Endpoint> endpoint_of(int family, const sockaddr* addr, socklen_t len) {
    if (addr == nullptr || len < static_cast<socklen_t>(sizeof(sa_family_t))) return std::nullopt;
    if (addr->sa_family != family) return std::nullopt;
    if (family == AF_INET && len < static_cast<socklen_t>(sizeof(sockaddr_in))) return std::nullopt;
    if (family == AF_INET6 && len < static_cast<socklen_t>(sizeof(sockaddr_in6)))
        return std::nullopt;
    auto parsed = Endpoint::from_sockaddr(addr, len);
    if (!parsed) return std::nullopt;
    return parsed.value();
}

int int_option(int fd, int level, int name) {
    int value = 0;
    socklen_t len = sizeof(value);
    if (libc::getsockopt(fd, level, name, &value, &len) != 0) return 0;
    return value;
}

int64_t timeval_ns(const timeval& tv) {
    return int64_t(tv.tv_sec) * 1'000'000'000 + int64_t(tv.tv_usec) * 1000;
}

// What the kernel socket was told before it became fast: O_NONBLOCK,
// SO_RCVTIMEO, timestamps, packet info, SO_RCVBUF. A few system calls,
// once per socket, so that no receive ever has to ask.
Status copy_kernel_state(int fd, engine::UdpEngine& engine, FastSocket& socket) {
    const int flags = libc::fcntl(fd, F_GETFL);
    socket.nonblocking.store(flags >= 0 && (flags & O_NONBLOCK) != 0);
    timeval tv{};
    socklen_t len = sizeof(tv);
    if (libc::getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) == 0)
        socket.rcvtimeo_ns.store(timeval_ns(tv));
    uint32_t cmsg = 0;
    if (int_option(fd, SOL_SOCKET, SO_TIMESTAMPNS) != 0) cmsg |= kCmsgTimestamp | kCmsgTimestampNs;
    if (int_option(fd, SOL_SOCKET, SO_TIMESTAMP) != 0) cmsg |= kCmsgTimestamp;
    if (int_option(fd, IPPROTO_IP, IP_PKTINFO) != 0) cmsg |= kCmsgPktinfo;
    if (socket.family == AF_INET6 && int_option(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO) != 0)
        cmsg |= kCmsgPktinfo6;
    socket.cmsg.store(cmsg);
    const int rcvbuf = int_option(fd, SOL_SOCKET, SO_RCVBUF);
    if (rcvbuf > 0) {
        auto set =
            guarded([&] { return engine.set_rcvbuf(socket.id, static_cast<size_t>(rcvbuf) / 2); });
        if (!set) return set.error();
    }
    return {};
}

// The engine adds the socket's receive and send drops to its published
// counters (`xlane stats` DROP rx/tx) as they happen. The engine socket is
// closed with the last fd, before the slot is retired (close() order).
void publish_drops(int fd, engine::UdpEngine& engine, engine::SocketId id) {
    stats::SocketSlot* slot = stats::process_fd_stats().slot(fd);
    if (slot == nullptr) return;
    const engine::DropCounters counters{
        &slot->counters[static_cast<size_t>(stats::Counter::rx_drops)],
        &slot->counters[static_cast<size_t>(stats::Counter::tx_drops)]};
    (void)guarded([&] { return engine.set_drop_counters(id, counters); });
}

// The decision for an undecided UDP socket. Returns the FastSocket when the
// socket is now fast (adopted by the engine, unbound yet), or empty when it
// stays on the kernel path (its entry then says why).
FastRef decide(int fd, const SocketEntry& entry, config::SocketRole role, const Endpoint& local,
               const Endpoint& remote, const std::string& what) {
    std::lock_guard lock(decision_lock(fd));
    const auto now = g_sockets.find(fd);
    if (!now || now->reason != PathReason::kUndecided) return g_fast_sockets.find(fd);

    std::string rule;
    engine::UdpEngine* engine = engine_for_decision(
        fd, config::SocketQuery{L4Proto::udp, role, local, remote}, what, &rule);
    if (engine == nullptr) return {};
    auto id = guarded([&] { return engine->adopt(fd); });
    if (!id) {
        fall_back(fd, what, PathReason::kResource, "resource: " + id.error().describe());
        return {};
    }
    auto event_fd = guarded([&] { return engine->event_fd(id.value()); });
    auto* socket = event_fd ? new (std::nothrow) FastSocket : nullptr;
    Status state = socket != nullptr ? Status{}
                                     : (event_fd ? Status(make_error(ENOMEM, "out of memory"))
                                                 : Status(event_fd.error()));
    if (socket != nullptr) {
        socket->id = id.value();
        socket->family = entry.family;
        socket->event_fd = event_fd.value();
        state = copy_kernel_state(fd, *engine, *socket);
    }
    if (!state) {
        (void)guarded([&] { return engine->close(id.value()); });
        delete socket;
        fall_back(fd, what, PathReason::kResource, "resource: " + state.error().describe());
        return {};
    }
    g_fast_sockets.attach(fd, socket);
    publish_drops(fd, *engine, id.value());
    set_path(fd, SocketPath::kFast, PathReason::kNone, rule.c_str());
    note_fast_socket();
    log_decision(fd, what.c_str(), "fast path, " + rule);
    epoll_on_socket_accelerated(fd);
    return g_fast_sockets.find(fd);
}

// A bind or connect that the kernel refused: the socket is undecided again
// (a later call may name another address, which the rules may see otherwise).
void undo_adoption(int fd) {
    epoll_on_socket_released(fd);
    FastSocket* socket = g_fast_sockets.detach(fd);
    set_path(fd, SocketPath::kKernel, PathReason::kUndecided);
    if (socket != nullptr) drop_fd_ref(socket);
}

bool kernel_socket_bound(int fd) {
    sockaddr_storage local{};
    socklen_t len = sizeof(local);
    if (libc::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) return false;
    if (local.ss_family == AF_INET) return reinterpret_cast<sockaddr_in&>(local).sin_port != 0;
    if (local.ss_family == AF_INET6) return reinterpret_cast<sockaddr_in6&>(local).sin6_port != 0;
    return false;
}

bool kernel_socket_connected(int fd) {
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    return libc::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0;
}

int fail(int err) {
    errno = err;
    return -1;
}

// Options the fast path serves or tracks; everything else sends the socket
// back to the kernel (named in the log).
enum class OptionKind { kKernelOnly, kTracked, kUnsupported };

OptionKind classify_option(int level, int name) {
    if (level == SOL_SOCKET) {
        switch (name) {
            case SO_RCVTIMEO_OLD:
            case SO_RCVTIMEO_NEW:
            case SO_TIMESTAMP_OLD:
            case SO_TIMESTAMPNS_OLD:
            case SO_RCVBUF:
            case SO_RCVBUFFORCE:
                return OptionKind::kTracked;
            case SO_REUSEADDR:
            case SO_SNDBUF:
            case SO_SNDBUFFORCE:
            case SO_SNDTIMEO_OLD:
            case SO_SNDTIMEO_NEW:
            case SO_KEEPALIVE:
            case SO_LINGER:
            case SO_BROADCAST:
            case SO_DEBUG:
            case SO_OOBINLINE:
            case SO_NO_CHECK:
            case SO_PRIORITY:
            case SO_PASSCRED:
            case SO_BUSY_POLL:
            case SO_PREFER_BUSY_POLL:
            case SO_BUSY_POLL_BUDGET:
            case SO_INCOMING_CPU:
            case SO_RCVLOWAT:
            case SO_SNDLOWAT:
                return OptionKind::kKernelOnly;
            default:
                return OptionKind::kUnsupported;
        }
    }
    if (level == IPPROTO_IP) {
        switch (name) {
            case IP_PKTINFO:
                return OptionKind::kTracked;
            case IP_MTU_DISCOVER:
            case IP_BIND_ADDRESS_NO_PORT:
            case IP_FREEBIND:
                return OptionKind::kKernelOnly;
            default:
                return OptionKind::kUnsupported;
        }
    }
    if (level == IPPROTO_IPV6) {
        switch (name) {
            case IPV6_RECVPKTINFO:
                return OptionKind::kTracked;
            case IPV6_V6ONLY:
            case IPV6_MTU_DISCOVER:
                return OptionKind::kKernelOnly;
            default:
                return OptionKind::kUnsupported;
        }
    }
    return OptionKind::kUnsupported;
}

std::string option_name(int level, int name) {
    struct Named {
        int level;
        int name;
        const char* text;
    };
    static constexpr Named kNames[] = {
        {IPPROTO_IP, IP_ADD_MEMBERSHIP, "IP_ADD_MEMBERSHIP"},
        {IPPROTO_IP, IP_DROP_MEMBERSHIP, "IP_DROP_MEMBERSHIP"},
        {IPPROTO_IP, IP_ADD_SOURCE_MEMBERSHIP, "IP_ADD_SOURCE_MEMBERSHIP"},
        {IPPROTO_IP, IP_MULTICAST_IF, "IP_MULTICAST_IF"},
        {IPPROTO_IP, IP_MULTICAST_TTL, "IP_MULTICAST_TTL"},
        {IPPROTO_IP, IP_MULTICAST_LOOP, "IP_MULTICAST_LOOP"},
        {IPPROTO_IP, IP_RECVERR, "IP_RECVERR"},
        {IPPROTO_IP, IP_TOS, "IP_TOS"},
        {IPPROTO_IP, IP_TTL, "IP_TTL"},
        {IPPROTO_IP, IP_RECVTOS, "IP_RECVTOS"},
        {IPPROTO_IP, IP_RECVTTL, "IP_RECVTTL"},
        {IPPROTO_IP, IP_RECVORIGDSTADDR, "IP_RECVORIGDSTADDR"},
        {IPPROTO_IP, IP_TRANSPARENT, "IP_TRANSPARENT"},
        {IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, "IPV6_ADD_MEMBERSHIP"},
        {IPPROTO_IPV6, IPV6_DROP_MEMBERSHIP, "IPV6_DROP_MEMBERSHIP"},
        {IPPROTO_IPV6, IPV6_MULTICAST_IF, "IPV6_MULTICAST_IF"},
        {IPPROTO_IPV6, IPV6_MULTICAST_HOPS, "IPV6_MULTICAST_HOPS"},
        {IPPROTO_IPV6, IPV6_RECVERR, "IPV6_RECVERR"},
        {IPPROTO_IPV6, IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS"},
        {IPPROTO_IPV6, IPV6_TCLASS, "IPV6_TCLASS"},
        {IPPROTO_IPV6, IPV6_RECVHOPLIMIT, "IPV6_RECVHOPLIMIT"},
        {IPPROTO_IPV6, IPV6_RECVTCLASS, "IPV6_RECVTCLASS"},
        {SOL_SOCKET, SO_BINDTODEVICE, "SO_BINDTODEVICE"},
        {SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT"},
        {SOL_SOCKET, SO_MARK, "SO_MARK"},
        {SOL_SOCKET, SO_TIMESTAMPING_OLD, "SO_TIMESTAMPING"},
        {SOL_SOCKET, SO_TIMESTAMP_NEW, "SO_TIMESTAMP_NEW"},
        {SOL_SOCKET, SO_TIMESTAMPNS_NEW, "SO_TIMESTAMPNS_NEW"},
        {SOL_SOCKET, SO_RXQ_OVFL, "SO_RXQ_OVFL"},
        {SOL_SOCKET, SO_ATTACH_FILTER, "SO_ATTACH_FILTER"},
        {SOL_SOCKET, SO_ATTACH_BPF, "SO_ATTACH_BPF"},
        {IPPROTO_UDP, UDP_CORK, "UDP_CORK"},
        {IPPROTO_UDP, UDP_SEGMENT, "UDP_SEGMENT"},
        {IPPROTO_UDP, UDP_GRO, "UDP_GRO"},
        {IPPROTO_UDP, UDP_ENCAP, "UDP_ENCAP"},
    };
    for (const auto& named : kNames)
        if (named.level == level && named.name == name) return named.text;
    return "level " + std::to_string(level) + " option " + std::to_string(name);
}

// Applies a tracked option the kernel socket accepted.
void track_option(FastSocket& socket, int level, int name, const void* value, socklen_t len) {
    const auto as_int = [&] {
        int v = 0;
        if (value != nullptr && len >= static_cast<socklen_t>(sizeof(int)))
            std::memcpy(&v, value, sizeof(int));
        return v;
    };
    const auto set_flag = [&](uint32_t bits, bool on) {
        if (on)
            socket.cmsg.fetch_or(bits);
        else
            socket.cmsg.fetch_and(~bits);
    };
    if (level == SOL_SOCKET && name == SO_TIMESTAMP_OLD) {
        // As sock_set_timestamp(): SO_TIMESTAMP clears the nanosecond form.
        set_flag(kCmsgTimestampNs, false);
        set_flag(kCmsgTimestamp, as_int() != 0);
    } else if (level == SOL_SOCKET && name == SO_TIMESTAMPNS_OLD) {
        set_flag(kCmsgTimestamp | kCmsgTimestampNs, as_int() != 0);
    } else if (level == SOL_SOCKET && (name == SO_RCVBUF || name == SO_RCVBUFFORCE)) {
        const int v = as_int();
        if (engine::UdpEngine* engine = engine_of(socket))
            (void)guarded(
                [&] { return engine->set_rcvbuf(socket.id, v < 0 ? 0 : static_cast<size_t>(v)); });
    } else if (level == IPPROTO_IP && name == IP_PKTINFO) {
        set_flag(kCmsgPktinfo, as_int() != 0);
    } else if (level == IPPROTO_IPV6 && name == IPV6_RECVPKTINFO) {
        set_flag(kCmsgPktinfo6, as_int() != 0);
    }
}

}  // namespace

void set_path(int fd, SocketPath path, PathReason reason, const char* text) {
    auto entry = g_sockets.find(fd);
    if (!entry) return;
    entry->path = path;
    entry->reason = reason;
    g_sockets.record(fd, *entry);
    stats_hooks::changed(fd, text);
}

void fall_back(int fd, const std::string& what, PathReason reason, const std::string& text) {
    set_path(fd, SocketPath::kKernel, reason, text.c_str());
    log_decision(fd, what.c_str(), "kernel path, " + text);
    log_fallback(fd, text);
}

engine::UdpEngine* engine_for_decision(int fd, const config::SocketQuery& query,
                                       const std::string& what, std::string* rule) {
    auto decision = guarded([&]() -> Result<config::Decision> { return rules().decide(query); });
    if (!decision) {
        fall_back(fd, what, PathReason::kResource, "resource: " + decision.error().describe());
        return nullptr;
    }
    if (decision->action == config::RuleAction::kernel) {
        set_path(fd, SocketPath::kKernel, PathReason::kRule, decision->rule.c_str());
        log_decision(fd, what.c_str(), "kernel path, " + decision->rule);
        return nullptr;
    }
    auto engine_or = guarded([&]() -> Result<EngineOrReason> { return engine_for_new_socket(); });
    if (!engine_or) {
        fall_back(fd, what, PathReason::kResource, "resource: " + engine_or.error().describe());
        return nullptr;
    }
    if (engine_or->engine == nullptr) fall_back(fd, what, engine_or->reason, engine_or->detail);
    *rule = decision->rule;
    return engine_or->engine;
}

bool user_readable(const void* src, size_t len, void* dst) {
    if (len == 0) return true;
    if (src == nullptr) return false;
    const pid_t self = static_cast<pid_t>(::syscall(SYS_getpid));
    char scratch[4096];
    size_t done = 0;
    while (done < len) {
        const size_t chunk = dst != nullptr ? len - done : std::min(len - done, sizeof(scratch));
        iovec local{dst != nullptr ? static_cast<char*>(dst) + done : scratch, chunk};
        iovec remote{const_cast<char*>(static_cast<const char*>(src)) + done, chunk};
        const ssize_t got = ::process_vm_readv(self, &local, 1, &remote, 1, 0);
        if (got > 0) {
            done += static_cast<size_t>(got);
            continue;
        }
        if (got < 0 && errno == EFAULT) return false;
        // The check is refused (ENOSYS, EPERM): read it as the caller would.
        if (dst != nullptr)
            std::memcpy(static_cast<char*>(dst) + done, static_cast<const char*>(src) + done,
                        len - done);
        return true;
    }
    return true;
}

engine::UdpEngine* engine_of(const FastSocket&) {
    return current_engine();
}

// Set once the process exits: its last closes do not linger (Linux's PF_EXITING).
static std::atomic<bool> g_exiting{false};

// SO_LINGER {1, N}: close, then wait as Linux's close() does
// (sk_stream_wait_close) until the peer has acknowledged the data and the
// FIN, N seconds have passed, or a signal came. The wait runs outside the
// engine mark, so that a signal handler's socket calls meanwhile are served
// as usual, and is not a cancellation point: the close is already done.
static void close_lingering(engine::TcpEngine& tcp, engine::TcpSocketId id, int seconds) {
    auto tuple = guarded([&] { return tcp.connection_tuple(id); });
    (void)guarded([&] { return tcp.close(id); });
    if (!tuple) return;
    int cancel_state = 0;
    ::pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    const int saved_errno = errno;
    // Signals stay blocked while the state is checked and are let in only
    // by each sleep (ppoll swaps the mask atomically), so that one arriving
    // during a check still ends the wait, as Linux's signal_pending() test.
    sigset_t all, caller;
    sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, &caller);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    for (;;) {
        auto done = guarded([&]() -> Result<bool> { return tcp.close_acknowledged(*tuple); });
        if (!done || done.value() || std::chrono::steady_clock::now() >= deadline) break;
        const timespec step{0, 1'000'000};
        // The raw system call: no wrapper of ours; the kernel's sigset size.
        if (::syscall(SYS_ppoll, nullptr, 0, &step, &caller, _NSIG / 8) < 0 && errno == EINTR)
            break;
    }
    ::pthread_sigmask(SIG_SETMASK, &caller, nullptr);
    errno = saved_errno;
    ::pthread_setcancelstate(cancel_state, nullptr);
}

void close_engine_socket(FastSocket& socket) {
    if (socket.closed.exchange(true)) return;
    engine::UdpEngine* engine = current_engine();
    if (engine == nullptr) return;
    const int linger = socket.linger_s.load();
    if (!socket.tcp)
        (void)guarded([&] { return engine->close(socket.id); });
    else if (linger > 0 && !g_exiting)
        close_lingering(engine->tcp(), socket.id, linger);
    else
        (void)guarded([&] { return engine->tcp().close(socket.id, linger == 0); });
}

void drop_fd_ref(FastSocket* socket) {
    if (socket->fd_refs.fetch_sub(1, std::memory_order_acq_rel) == 1) close_engine_socket(*socket);
    unref(socket);
}

void hand_back(FastSocket* socket, PathReason reason, const std::string& why, bool failure) {
    const int end = g_fast_sockets.end_fd();
    for (int fd = 0; fd < end; ++fd) {
        FastRef named = g_fast_sockets.find(fd);
        if (named.get() != socket) continue;
        epoll_on_socket_released(fd);
        FastSocket* detached = g_fast_sockets.detach(fd);
        if (detached == nullptr) continue;
        set_path(fd, SocketPath::kKernel, reason, why.empty() ? nullptr : why.c_str());
        if (failure)
            log_fallback(fd, why);
        else if (!why.empty())
            log_decision(fd, family_name(socket->family), "kernel path, " + why);
        drop_fd_ref(detached);
    }
}

void start_release(const FastRef& socket, const std::string& why) {
    if (socket->releasing.exchange(true)) return;
    engine::UdpEngine* engine = engine_of(*socket);
    size_t waiting = 0;
    if (engine != nullptr) {
        (void)guarded([&] { return engine->release(socket->id); });
        auto queued = guarded([&] { return engine->queued(socket->id); });
        waiting = queued ? queued.value() : 0;
    }
    // Kept until its queue is served; the hand-back then happens in the
    // receive that finds it empty (and says nothing more).
    if (waiting == 0) {
        hand_back(socket.get(), PathReason::kUnsupportedOption, why, false);
        return;
    }
    const int end = g_fast_sockets.end_fd();
    for (int fd = 0; fd < end; ++fd) {
        if (g_fast_sockets.find(fd).get() != socket.get()) continue;
        log_decision(fd, family_name(socket->family),
                     "kernel path once its " + std::to_string(waiting) +
                         " queued datagrams are read, " + why);
    }
}

static bool bind_unshielded(int fd, const sockaddr* addr, socklen_t len, int* ret) {
    if (inside_engine()) return false;
    const auto entry = g_sockets.find(fd);
    if (!entry) return false;
    // A copy, read as the kernel would: a bad pointer is the kernel's EFAULT.
    sockaddr_storage copy{};
    if (len > sizeof(copy) || !user_readable(addr, len, &copy)) return false;
    const auto local = endpoint_of(entry->family, reinterpret_cast<const sockaddr*>(&copy), len);
    if (!local) return false;
    FastRef socket;
    bool adopted_now = false;
    if (entry->path == SocketPath::kFast) {
        socket = g_fast_sockets.find(fd);
    } else if (entry->reason == PathReason::kUndecided) {
        socket = decide(fd, *entry, config::SocketRole::server, *local, Endpoint{},
                        what_of(entry->family, "bind", *local));
        adopted_now = true;
    }
    if (!socket || socket->closed || socket->releasing) return false;
    engine::UdpEngine* engine = engine_of(*socket);
    auto bound = guarded([&] { return engine->bind(socket->id, *local); });
    if (bound) {
        *ret = 0;
        return true;
    }
    if (adopted_now && kernel_socket_bound(fd)) {
        // The kernel bound it, steering failed: the kernel serves it.
        hand_back(socket.get(), PathReason::kResource, "resource: " + bound.error().describe(),
                  true);
        *ret = 0;
        return true;
    }
    // The kernel refused the bind (EADDRINUSE, EINVAL for a bound socket, ...).
    if (adopted_now) undo_adoption(fd);
    *ret = fail(bound.error().errnum != 0 ? bound.error().errnum : EINVAL);
    return true;
}

static bool connect_unshielded(int fd, const sockaddr* addr_in, socklen_t len, int* ret) {
    if (inside_engine()) return false;
    const auto entry = g_sockets.find(fd);
    if (!entry) return false;
    sockaddr_storage copy{};
    if (len > sizeof(copy) || !user_readable(addr_in, len, &copy)) return false;
    const auto* addr = reinterpret_cast<const sockaddr*>(&copy);
    const bool unspec = addr != nullptr && len >= static_cast<socklen_t>(sizeof(sa_family_t)) &&
                        addr->sa_family == AF_UNSPEC;
    if (entry->path == SocketPath::kFast && unspec) {
        FastRef socket = g_fast_sockets.find(fd);
        if (!socket || socket->closed || socket->releasing) return false;
        auto local = guarded([&] { return engine_of(*socket)->disconnect(socket->id); });
        if (local) {
            *ret = 0;
            return true;
        }
        // The association is gone in the kernel or never was; either way the
        // kernel socket is the one to ask.
        hand_back(socket.get(), PathReason::kResource, "resource: " + local.error().describe(),
                  true);
        return false;
    }
    const auto remote = endpoint_of(entry->family, addr, len);
    if (!remote) return false;
    FastRef socket;
    bool adopted_now = false;
    if (entry->path == SocketPath::kFast) {
        socket = g_fast_sockets.find(fd);
    } else if (entry->reason == PathReason::kUndecided) {
        socket = decide(fd, *entry, config::SocketRole::client, Endpoint{}, *remote,
                        what_of(entry->family, "connect", *remote));
        adopted_now = true;
    }
    if (!socket || socket->closed || socket->releasing) return false;
    auto connected = guarded([&] { return engine_of(*socket)->connect(socket->id, *remote); });
    if (connected) {
        *ret = 0;
        return true;
    }
    if (kernel_socket_connected(fd)) {
        // The kernel connected it, steering failed: the kernel serves it.
        hand_back(socket.get(), PathReason::kResource, "resource: " + connected.error().describe(),
                  true);
        *ret = 0;
        return true;
    }
    if (adopted_now) undo_adoption(fd);
    *ret = fail(connected.error().errnum != 0 ? connected.error().errnum : EINVAL);
    return true;
}

// For the send path: decides an undecided socket at its first sendto.
FastRef decide_for_send(int fd, const SocketEntry& entry, const Endpoint& destination) {
    return decide(fd, entry, config::SocketRole::client, Endpoint{}, destination,
                  what_of(entry.family, "sendto", destination));
}

static bool setsockopt_unshielded(int fd, int level, int name, const void* value, socklen_t len,
                                  int* ret) {
    if (inside_engine()) return false;
    const auto entry = g_sockets.find(fd);
    if (!entry) return false;
    const OptionKind kind = classify_option(level, name);
    if (entry->path != SocketPath::kFast) {
        if (entry->reason == PathReason::kUndecided && kind == OptionKind::kUnsupported) {
            // Only an option the kernel accepts decides the socket.
            const int result = libc::setsockopt(fd, level, name, value, len);
            if (result == 0) {
                std::lock_guard lock(decision_lock(fd));
                if (g_sockets.find(fd)->reason == PathReason::kUndecided) {
                    set_path(fd, SocketPath::kKernel, PathReason::kUnsupportedOption);
                    log_decision(fd, family_name(entry->family),
                                 "kernel path, unsupported option " + option_name(level, name));
                }
            }
            *ret = result;
            return true;
        }
        return false;
    }
    FastRef socket = g_fast_sockets.find(fd);
    if (!socket || socket->closed) return false;
    if (kind == OptionKind::kUnsupported) {
        const int result = libc::setsockopt(fd, level, name, value, len);
        if (result == 0) start_release(socket, "unsupported option " + option_name(level, name));
        *ret = result;
        return true;
    }
    const int result = libc::setsockopt(fd, level, name, value, len);
    if (result == 0 && kind == OptionKind::kTracked) {
        if (level == SOL_SOCKET && (name == SO_RCVTIMEO_OLD || name == SO_RCVTIMEO_NEW)) {
            timeval tv{};
            socklen_t tv_len = sizeof(tv);
            if (libc::getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO_OLD, &tv, &tv_len) == 0)
                socket->rcvtimeo_ns.store(timeval_ns(tv));
        } else {
            track_option(*socket, level, name, value, len);
        }
    }
    *ret = result;
    return true;
}

static bool ioctl_unshielded(int fd, unsigned long request, void* arg, int* ret) {
    if (inside_engine() || request != FIONREAD) return false;  // SIOCINQ == FIONREAD
    FastRef socket = g_fast_sockets.find(fd);
    if (!socket || socket->closed) return false;
    auto length = guarded([&] { return engine_of(*socket)->next_length(socket->id); });
    if (!length) return false;
    if (length.value() == 0 && socket->releasing) return false;  // the kernel socket's turn
    const int value = static_cast<int>(length.value());
    std::memcpy(arg, &value, sizeof(value));
    *ret = 0;
    return true;
}

static void before_shutdown_unshielded(int fd) {
    if (inside_engine()) return;
    FastRef socket = g_fast_sockets.find(fd);
    if (!socket || socket->closed) return;
    hand_back(socket.get(), PathReason::kUnsupportedOption, "unsupported call shutdown()", false);
}

static void after_set_nonblocking_unshielded(int fd, bool nonblocking) {
    if (inside_engine()) return;
    FastRef socket = g_fast_sockets.find(fd);
    if (socket) socket->nonblocking.store(nonblocking);
}

static void before_close_unshielded(int fd) {
    if (inside_engine()) return;
    FastSocket* socket = g_fast_sockets.detach(fd);
    if (socket == nullptr) return;
    // The fd's registrations go with it, not back to the program's own set:
    // the engine may keep the socket's file open after the close (a TCP
    // connection's port reservation), and a registration left in the
    // program's set would then outlive the fd, reporting the dead shadow's
    // EPOLLHUP with the program's data (a freed pointer, in a server).
    epoll_on_fd_closed(fd);
    drop_fd_ref(socket);
}

static void before_close_range_unshielded(unsigned first, unsigned last) {
    if (inside_engine()) return;
    const int end = g_fast_sockets.end_fd();
    for (unsigned fd = first; fd <= last && fd < static_cast<unsigned>(end); ++fd)
        before_close(static_cast<int>(fd));
}

static void before_dup_onto_unshielded(int from, int to) {
    if (inside_engine() || from == to || !serves(to)) return;
    // dup2 of an invalid `from` fails and leaves `to` open: keep it then.
    if (libc::fcntl(from, F_GETFD) < 0) return;
    before_close(to);
}

static void after_dup_unshielded(int from, int to) {
    if (inside_engine() || from == to) return;
    FastRef socket = g_fast_sockets.find(from);
    if (!socket || socket->closed) return;
    g_fast_sockets.attach(to, socket.get());
}

static void release_all_for_exit_unshielded() {
    // As Linux at exit (PF_EXITING): SO_LINGER makes no close() wait.
    g_exiting.store(true);
    const int end = g_fast_sockets.end_fd();
    for (int fd = 0; fd < end; ++fd) {
        FastSocket* socket = g_fast_sockets.detach(fd);
        if (socket == nullptr) continue;
        set_path(fd, SocketPath::kKernel, PathReason::kProcessExit);
        drop_fd_ref(socket);
    }
    // TCP: the closes above queued FINs behind unacknowledged data. Linux
    // finishes such connections after the process is gone: hand them to it
    // (TCP_REPAIR), and give those it could not take a moment to finish here.
    if (engine::UdpEngine* engine = current_engine()) {
        engine::TcpEngine::OrphanHandover handover;
        {
            InsideEngine mark;  // the hand-over's socket calls go straight to libc
            handover = engine->tcp().hand_orphans_to_kernel();
        }
        if (handover.handed + handover.kept > 0)
            log_line(handover.kept == 0 ? LogLevel::info : LogLevel::warn,
                     "exit: " + std::to_string(handover.handed) +
                         " closing TCP connection(s) handed to the kernel to finish" +
                         (handover.kept == 0
                              ? std::string()
                              : ", " + std::to_string(handover.kept) +
                                    " kept for at most 2 s more (" + handover.first_error + ")"));
        (void)engine->tcp().finish_closing(std::chrono::milliseconds(2000));
    }
}

void abandon_all_after_fork() {
    for (auto& lock : g_decision_locks) new (&lock) std::mutex;
    g_fast_sockets.abandon_all([](int fd, FastSocket* socket) {
        // The eventfd copy is closed once (dup'd fds share the record).
        if (!socket->closed.exchange(true)) ::syscall(SYS_close, socket->event_fd);
        set_path(fd, SocketPath::kKernel, PathReason::kForked);
    });
}

// ---- entry points (exceptions stop here) ----

bool bind(int fd, const sockaddr* addr, socklen_t len, int* ret) {
    return shielded([&] { return bind_unshielded(fd, addr, len, ret); }, false);
}

bool connect(int fd, const sockaddr* addr, socklen_t len, int* ret) {
    return shielded([&] { return connect_unshielded(fd, addr, len, ret); }, false);
}

bool setsockopt(int fd, int level, int name, const void* value, socklen_t len, int* ret) {
    return shielded([&] { return setsockopt_unshielded(fd, level, name, value, len, ret); }, false);
}

bool ioctl(int fd, unsigned long request, void* arg, int* ret) {
    return shielded([&] { return ioctl_unshielded(fd, request, arg, ret); }, false);
}

void before_shutdown(int fd) {
    shielded_void([&] { before_shutdown_unshielded(fd); });
}

void after_set_nonblocking(int fd, bool nonblocking) {
    shielded_void([&] { after_set_nonblocking_unshielded(fd, nonblocking); });
}

void before_close(int fd) {
    shielded_void([&] { before_close_unshielded(fd); });
}

void before_close_range(unsigned first, unsigned last) {
    shielded_void([&] { before_close_range_unshielded(first, last); });
}

void before_dup_onto(int from, int to) {
    shielded_void([&] { before_dup_onto_unshielded(from, to); });
}

void after_dup(int from, int to) {
    shielded_void([&] { after_dup_unshielded(from, to); });
}

void release_all_for_exit() {
    shielded_void([&] { release_all_for_exit_unshielded(); });
}

}  // namespace xlane::preload::fast
