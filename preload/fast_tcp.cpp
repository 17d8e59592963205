// The TCP fast path: the decision at connect/listen, blocking and
// non-blocking connect/accept/send/receive over the engine's TcpEngine, the
// options and queries it answers itself, and readiness for poll/select.
#include "fast_tcp.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <linux/capability.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/socket_address.h"
#include "fast_internal.h"
#include "fast_path.h"
#include "libc_table.h"
#include "log.h"
#include "readiness_support.h"
#include "runtime.h"
#include "stats_hooks.h"
#include "tcp/tcp_info_linux.h"
#include "termination.h"

namespace xlane::preload::fast::tcp {
namespace {

namespace libc = xlane::preload::libc;
using engine::TcpEngine;

int fail(int err) {
    errno = err;
    return -1;
}

std::optional<Endpoint> endpoint_of(int family, const sockaddr* addr, socklen_t len) {
    if (addr == nullptr || len < static_cast<socklen_t>(sizeof(sa_family_t))) return std::nullopt;
    if (addr->sa_family != family) return std::nullopt;
    auto parsed = Endpoint::from_sockaddr(addr, len);
    if (!parsed) return std::nullopt;
    return parsed.value();
}

TcpEngine* tcp_engine() {
    engine::UdpEngine* engine = current_engine();
    return engine == nullptr ? nullptr : &engine->tcp();
}

int64_t timeval_ns(const timeval& tv) {
    return int64_t(tv.tv_sec) * 1'000'000'000 + int64_t(tv.tv_usec) * 1000;
}

int int_option(int fd, int level, int name, int fallback) {
    int value = 0;
    socklen_t len = sizeof(value);
    return libc::getsockopt(fd, level, name, &value, &len) == 0 ? value : fallback;
}

// The options the engine runs (the rest only live on the shadow socket).
bool engine_option(int level, int name) {
    if (level == SOL_SOCKET)
        return name == SO_KEEPALIVE || name == SO_SNDBUF || name == SO_RCVBUF ||
               name == SO_SNDBUFFORCE || name == SO_RCVBUFFORCE;
    if (level != IPPROTO_TCP) return false;
    switch (name) {
        case TCP_NODELAY:
        case TCP_CORK:
        case TCP_QUICKACK:
        case TCP_KEEPIDLE:
        case TCP_KEEPINTVL:
        case TCP_KEEPCNT:
        case TCP_USER_TIMEOUT:
        case TCP_CONGESTION:
        case TCP_MAXSEG:
        case TCP_NOTSENT_LOWAT:
            return true;
        default:
            return false;
    }
}

// The options an accepted socket inherits from its listener (Linux clones
// the listener into each connection), besides TCP_CONGESTION and the buffer
// sizes, which have their own rules.
constexpr std::pair<int, int> kInheritedIntOptions[] = {
    {SOL_SOCKET, SO_REUSEADDR},     {SOL_SOCKET, SO_REUSEPORT},
    {SOL_SOCKET, SO_KEEPALIVE},     {IPPROTO_TCP, TCP_NODELAY},   {IPPROTO_TCP, TCP_CORK},
    {IPPROTO_TCP, TCP_KEEPIDLE},    {IPPROTO_TCP, TCP_KEEPINTVL}, {IPPROTO_TCP, TCP_KEEPCNT},
    {IPPROTO_TCP, TCP_USER_TIMEOUT}, {IPPROTO_TCP, TCP_NOTSENT_LOWAT}};
static_assert(std::size(kInheritedIntOptions) + 2 <= InheritedOptions::kMaxInts);  // + buffers

// What a TCP socket nobody set anything on reads in this network namespace,
// read once from a probe socket. SO_SNDBUF and SO_RCVBUF: tcp_wmem[1] and
// tcp_rmem[1]; a shadow that reads anything else was sized by the
// application, which turns Linux's autotuning off: the engine then uses that
// size instead of its own. The rest tell which of a listener's options were
// changed, the only ones an accepted socket's shadow needs set.
struct FreshSocketOptions {
    int send = -1;
    int receive = -1;
    std::optional<int> ints[std::size(kInheritedIntOptions)];  // unreadable: never a default
    char congestion[16] = {};                                  // TCP_CA_NAME_MAX
    // net.ipv4.tcp_notsent_lowat: what a TCP_NOTSENT_LOWAT of 0 stands for.
    uint32_t notsent_lowat = UINT32_MAX;
};
const FreshSocketOptions& fresh_socket_options() {
    static const FreshSocketOptions defaults = [] {
        FreshSocketOptions d;
        const int probe = libc::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
        if (probe < 0) return d;
        d.send = int_option(probe, SOL_SOCKET, SO_SNDBUF, -1);
        d.receive = int_option(probe, SOL_SOCKET, SO_RCVBUF, -1);
        for (size_t i = 0; i < std::size(kInheritedIntOptions); ++i) {
            int value = 0;
            socklen_t len = sizeof(value);
            const auto [level, name] = kInheritedIntOptions[i];
            if (libc::getsockopt(probe, level, name, &value, &len) == 0) d.ints[i] = value;
        }
        socklen_t len = sizeof(d.congestion) - 1;
        if (libc::getsockopt(probe, IPPROTO_TCP, TCP_CONGESTION, d.congestion, &len) != 0)
            d.congestion[0] = '\0';
        libc::close(probe);
        if (FILE* sysctl = std::fopen("/proc/sys/net/ipv4/tcp_notsent_lowat", "re")) {
            unsigned long value = 0;
            if (std::fscanf(sysctl, "%lu", &value) == 1 && value > 0 && value <= UINT32_MAX)
                d.notsent_lowat = static_cast<uint32_t>(value);
            std::fclose(sysctl);
        }
        return d;
    }();
    return defaults;
}

// SO_LINGER as the shadow holds it (validated there), off when unreadable.
linger linger_option(int fd) {
    linger option{};
    socklen_t len = sizeof(option);
    if (libc::getsockopt(fd, SOL_SOCKET, SO_LINGER, &option, &len) != 0) return {};
    return option;
}

// FastSocket::linger_s from an SO_LINGER value.
int linger_seconds(const linger& option) {
    if (option.l_onoff == 0) return -1;
    // A negative l_linger set means no limit; Linux then reads back a
    // negative number too (its jiffies, truncated).
    return option.l_linger < 0 ? INT_MAX : option.l_linger;
}

// What getsockopt(TCP_MAXSEG) reads on a socket that never connected and
// had no TCP_MAXSEG set (Linux's TCP_MSS_DEFAULT).
constexpr int kLinuxDefaultMss = 536;

// What Linux runs for the shadow socket `fd`, for the engine (quickack is
// left out: Linux's quick-ACK mode is per connection and transient).
xlane::tcp::SocketOptions shadow_options(int fd) {
    using namespace std::chrono;
    xlane::tcp::SocketOptions options;
    options.nodelay = int_option(fd, IPPROTO_TCP, TCP_NODELAY, 0) != 0;
    options.cork = int_option(fd, IPPROTO_TCP, TCP_CORK, 0) != 0;
    options.keepalive.enabled = int_option(fd, SOL_SOCKET, SO_KEEPALIVE, 0) != 0;
    options.keepalive.idle = seconds(int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE, 7200));
    options.keepalive.interval = seconds(int_option(fd, IPPROTO_TCP, TCP_KEEPINTVL, 75));
    options.keepalive.probes = static_cast<uint32_t>(int_option(fd, IPPROTO_TCP, TCP_KEEPCNT, 9));
    options.user_timeout =
        milliseconds(static_cast<unsigned>(int_option(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 0)));
    char name[16] = {};  // TCP_CA_NAME_MAX
    socklen_t len = sizeof(name) - 1;
    if (libc::getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &len) == 0)
        options.congestion = xlane::tcp::congestion_algorithm_from(
            std::string_view(name, strnlen(name, static_cast<size_t>(len))));
    const FreshSocketOptions& defaults = fresh_socket_options();
    const int send = int_option(fd, SOL_SOCKET, SO_SNDBUF, -1);
    if (send > 0 && send != defaults.send) options.send_buffer = static_cast<size_t>(send);
    const int receive = int_option(fd, SOL_SOCKET, SO_RCVBUF, -1);
    if (receive > 0 && receive != defaults.receive)
        options.receive_buffer = static_cast<size_t>(receive);
    // An unconnected socket reads back its TCP_MAXSEG, or 536 when none was set.
    if (const int mss = int_option(fd, IPPROTO_TCP, TCP_MAXSEG, kLinuxDefaultMss);
        mss > 0 && mss != kLinuxDefaultMss)
        options.user_mss = static_cast<uint32_t>(mss);
    // Unsigned in Linux: a negative value set is a very large mark.
    const auto lowat = static_cast<uint32_t>(int_option(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 0));
    options.notsent_lowat = lowat != 0 ? lowat : defaults.notsent_lowat;
    return options;
}

// Linux clones a listener into each connection it accepts, options
// included; an accepted socket's shadow is a fresh kernel socket, so it gets
// them set, and getsockopt on it reads what Linux would. The engine's own
// connection already runs them (the TcpListener's options). Which of them
// differ from a fresh socket's is found here, at listen() and after each
// setsockopt on the listener, so that accept() makes one setsockopt per
// option the program changed rather than reading and writing every one.
InheritedOptions listener_options(int listener_fd) {
    const FreshSocketOptions& defaults = fresh_socket_options();
    InheritedOptions inherited;
    for (size_t i = 0; i < std::size(kInheritedIntOptions); ++i) {
        const auto [level, name] = kInheritedIntOptions[i];
        int value = 0;
        socklen_t len = sizeof(value);
        if (libc::getsockopt(listener_fd, level, name, &value, &len) != 0 ||
            value == defaults.ints[i])
            continue;
        inherited.ints[inherited.int_count++] = {level, name, value};
    }
    // Sizes only when the application set them (setting one locks it); the
    // kernel doubles what it is given, so half the listener's value.
    for (const auto& [name, fallback] :
         {std::pair{SO_SNDBUF, defaults.send}, std::pair{SO_RCVBUF, defaults.receive}}) {
        const int value = int_option(listener_fd, SOL_SOCKET, name, -1);
        if (value <= 0 || value == fallback) continue;
        inherited.ints[inherited.int_count++] = {SOL_SOCKET, name, value / 2};
    }
    char congestion[sizeof(inherited.congestion)] = {};
    socklen_t len = sizeof(congestion) - 1;
    if (libc::getsockopt(listener_fd, IPPROTO_TCP, TCP_CONGESTION, congestion, &len) == 0 &&
        std::strcmp(congestion, defaults.congestion) != 0)
        std::memcpy(inherited.congestion, congestion, sizeof(congestion));
    inherited.lingering = linger_option(listener_fd);
    return inherited;
}

void record_listener_options(int listener_fd, FastSocket& listener) {
    const InheritedOptions inherited = listener_options(listener_fd);
    std::lock_guard lock(listener.inherited_lock);
    listener.inherited = inherited;
}

void apply_options(const InheritedOptions& inherited, int child_fd) {
    for (size_t i = 0; i < inherited.int_count; ++i) {
        const InheritedOptions::Int& option = inherited.ints[i];
        (void)libc::setsockopt(child_fd, option.level, option.name, &option.value,
                               sizeof(option.value));
    }
    if (inherited.congestion[0] != '\0')
        (void)libc::setsockopt(
            child_fd, IPPROTO_TCP, TCP_CONGESTION, inherited.congestion,
            static_cast<socklen_t>(strnlen(inherited.congestion, sizeof(inherited.congestion))));
    if (inherited.lingering.l_onoff != 0)
        (void)libc::setsockopt(child_fd, SOL_SOCKET, SO_LINGER, &inherited.lingering,
                               sizeof(inherited.lingering));
}

// The listener's options on the child's shadow; SO_LINGER also in its record
// (for close).
void inherit_options(FastSocket& listener, int child_fd, FastSocket& child) {
    InheritedOptions inherited;
    {
        std::lock_guard lock(listener.inherited_lock);
        inherited = listener.inherited;
    }
    apply_options(inherited, child_fd);
    child.linger_s.store(linger_seconds(inherited.lingering));
}

// The decision for a TCP socket at its connect or listen: the rules, then
// the engine adopts the kernel socket. Empty when it stays on the kernel path.
FastRef adopt(int fd, const SocketEntry& entry, config::SocketRole role, const Endpoint& local,
              const Endpoint& remote, const std::string& what) {
    std::string rule;
    engine::UdpEngine* engine = engine_for_decision(
        fd, config::SocketQuery{L4Proto::tcp, role, local, remote}, what, &rule);
    if (engine == nullptr) return {};
    TcpEngine& tcp = engine->tcp();
    auto id = guarded([&] { return tcp.adopt(fd); });
    auto event_fd =
        id ? guarded([&] { return tcp.event_fd(id.value()); }) : Result<int>(id.error());
    auto* socket = event_fd ? new (std::nothrow) FastSocket : nullptr;
    if (socket == nullptr) {
        if (id) (void)guarded([&] { return tcp.close(id.value()); });
        fall_back(
            fd, what, PathReason::kResource,
            "resource: " + (event_fd ? std::string("out of memory") : event_fd.error().describe()));
        return {};
    }
    socket->id = id.value();
    socket->family = entry.family;
    socket->event_fd = event_fd.value();
    socket->tcp.store(true);
    const int flags = libc::fcntl(fd, F_GETFL);
    socket->nonblocking.store(flags >= 0 && (flags & O_NONBLOCK) != 0);
    timeval tv{};
    socklen_t len = sizeof(tv);
    if (libc::getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) == 0)
        socket->rcvtimeo_ns.store(timeval_ns(tv));
    socket->linger_s.store(linger_seconds(linger_option(fd)));
    // Options set before connect/listen: the engine runs them from the start
    // (the buffer sizes also choose the window scale of the SYN).
    (void)guarded([&] { return tcp.set_options(id.value(), shadow_options(fd)); });
    g_fast_sockets.attach(fd, socket);
    set_path(fd, SocketPath::kFast, PathReason::kNone, rule.c_str());
    note_fast_socket();
    arm_graceful_termination();  // SIGTERM and such: its peers get FIN, as on Linux
    note_accelerated_socket();  // poll/select now translate TCP fds too
    log_decision(fd, what.c_str(), "fast path, " + rule);
    return g_fast_sockets.find(fd);
}

// Back to the kernel path before anything went through the engine.
void unadopt(int fd, PathReason reason, const std::string& why) {
    FastSocket* socket = g_fast_sockets.detach(fd);
    set_path(fd, SocketPath::kKernel, reason, why.c_str());
    log_decision(fd, "tcp", "kernel path, " + why);
    if (socket != nullptr) drop_fd_ref(socket);
}

// A sleeper's interest in a socket's events, held for its sleep.
class InterestHold {
  public:
    InterestHold(TcpEngine& tcp, engine::TcpSocketId id, uint32_t events)
        : tcp_(tcp), id_(id), events_(events) {
        held_ = guarded([&] { return tcp_.hold_interest(id_, events_); }).ok();
    }
    ~InterestHold() {
        if (!held_) return;
        const int saved = errno;  // the waiter's result stands
        (void)guarded([&] { return tcp_.release_interest(id_, events_); });
        errno = saved;
    }
    InterestHold(const InterestHold&) = delete;
    InterestHold& operator=(const InterestHold&) = delete;

  private:
    TcpEngine& tcp_;
    engine::TcpSocketId id_;
    uint32_t events_;
    bool held_ = false;
};

// Waits until the socket's mask meets `events` (or ERR/HUP): 0, or EAGAIN
// when `timeout_ns` (0 = none) passed, EINTR for a signal that must
// interrupt. Spins first (XLANE_SPIN_US) draining the RX rings itself, then
// sleeps on the eventfd together with the AF_XDP sockets, so that a frame
// wakes this thread directly rather than through the progress thread.
int wait_for(TcpEngine& tcp, FastSocket& socket, short events, int64_t timeout_ns,
             int extra_fd = -1) {
    const uint64_t deadline = timeout_ns > 0 ? monotonic_ns() + uint64_t(timeout_ns) : 0;
    const auto ready = [&]() -> int {
        auto mask = guarded([&] { return tcp.poll_mask(socket.id); });
        if (!mask) return mask.error().errnum;
        return (mask.value() & static_cast<uint32_t>(events | POLLERR | POLLHUP)) != 0 ? 0 : -1;
    };
    // The spin never outlasts the call's own timeout (SO_RCVTIMEO/SNDTIMEO).
    uint64_t spin_end = monotonic_ns() + uint64_t(fast_path_spin_us()) * 1000;
    if (deadline != 0) spin_end = std::min(spin_end, deadline);
    // Signals held from a little into the spin: the sleep's ppoll then
    // delivers them, and a signal interrupts the call as the kernel's would.
    DeferredSpinSignals signals(nullptr);
    RxSpin rx_spin;  // the progress thread leaves the rings to us meanwhile
    rx_spin.begin();
    SpinYield yield;
    for (;;) {
        if (const int state = ready(); state >= 0) return state;
        if (monotonic_ns() >= spin_end || signals.pending() || yield.cpu_wanted()) break;
        fast_path_poll_once();
    }
    rx_spin.sleeping();
    // The spin asked the mask itself; the sleep needs the eventfd to wake
    // for `events`, whatever other waiters of the socket want.
    const InterestHold interest(tcp, socket.id, static_cast<uint32_t>(events));
    constexpr size_t kMaxPoll = 18;
    pollfd fds[kMaxPoll];
    nfds_t count = 0;
    fds[count++] = pollfd{socket.event_fd, POLLIN, 0};
    if (extra_fd >= 0) fds[count++] = pollfd{extra_fd, POLLIN, 0};
    const RxFds rx = engine_rx_fds();
    for (size_t i = 0; i < rx.count && count < kMaxPoll; ++i)
        fds[count++] = pollfd{rx.fds[i], POLLIN, 0};
    for (;;) {
        if (const int state = ready(); state >= 0) return state;
        timespec left{};
        timespec* timeout = nullptr;
        if (deadline != 0) {
            const uint64_t now = monotonic_ns();
            if (now >= deadline) return EAGAIN;
            left.tv_sec = static_cast<time_t>((deadline - now) / 1'000'000'000);
            left.tv_nsec = static_cast<long>((deadline - now) % 1'000'000'000);
            timeout = &left;
        }
        const long got = ::syscall(SYS_ppoll, fds, count, timeout, signals.sleep_mask(), _NSIG / 8);
        if (got < 0 && errno == EINTR && (deadline != 0 || !signal_handlers_restart()))
            return EINTR;
        if (got <= 0) continue;
        if (extra_fd >= 0 && (fds[1].revents & POLLIN) != 0) return 0;
        // Frames on the rings: take them in on this thread.
        if ((fds[0].revents & POLLIN) == 0) fast_path_poll_once();
    }
}

// The iovecs of `msg` from byte `offset` on.
std::vector<iovec> iovecs_from(const msghdr& msg, size_t offset) {
    std::vector<iovec> out;
    for (size_t i = 0; i < msg.msg_iovlen; ++i) {
        const iovec& part = msg.msg_iov[i];
        if (offset >= part.iov_len) {
            offset -= part.iov_len;
            continue;
        }
        out.push_back(iovec{static_cast<uint8_t*>(part.iov_base) + offset, part.iov_len - offset});
        offset = 0;
    }
    return out;
}

size_t total_length(const msghdr& msg) {
    size_t total = 0;
    for (size_t i = 0; i < msg.msg_iovlen; ++i) total += msg.msg_iov[i].iov_len;
    return total;
}

bool write_address(const Endpoint& endpoint, int family, sockaddr* addr, socklen_t* len) {
    auto converted = engine::to_socket_address(family, endpoint);
    if (!converted) return false;
    if (addr != nullptr && len != nullptr) {
        std::memcpy(addr, &converted->storage, std::min<socklen_t>(*len, converted->length));
        *len = converted->length;
    }
    return true;
}

// An accepted or otherwise connected kernel socket is never taken over.
bool kernel_connected(int fd) {
    sockaddr_storage peer{};
    socklen_t len = sizeof(peer);
    return libc::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) == 0;
}

FastRef tcp_socket(int fd) {
    FastRef socket = g_fast_sockets.find(fd);
    if (!socket || socket->closed || !socket->tcp) return {};
    return socket;
}

}  // namespace

namespace {

// CAP_NET_ADMIN in the effective set, asked at each decision (connect or
// listen): a server that drops its privileges after start-up (nginx's
// workers) loses it, and its later sockets then keep the kernel path.
bool has_net_admin() {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
    if (::syscall(SYS_capget, &header, data) != 0) return false;
    return (data[CAP_NET_ADMIN / 32].effective & (1U << (CAP_NET_ADMIN % 32))) != 0;
}

}  // namespace

bool enabled() {
    const config::Settings& loaded = settings();
    if (loaded.tcp) return true;
    if (!loaded.tcp_auto) return false;
    if (has_net_admin()) return true;
    static std::atomic<bool> told{false};
    if (!told.exchange(true) && log_enabled(LogLevel::info))
        log_line(LogLevel::info,
                 "TCP stays on the kernel path: XLANE_TCP=auto takes the fast path only with "
                 "CAP_NET_ADMIN (the hand-over of connections to the kernel at fork and exit); "
                 "XLANE_TCP=1 takes it anyway");
    return false;
}

static bool connect_unshielded(int fd, const sockaddr* addr, socklen_t len, int* ret) {
    if (inside_engine()) return false;
    if (serves(fd)) {
        // connect() again: EALREADY while the handshake runs, else EISCONN.
        FastRef socket = tcp_socket(fd);
        const auto entry = g_sockets.find(fd);
        const auto remote = entry ? endpoint_of(entry->family, addr, len) : std::nullopt;
        if (!socket || !remote) return false;
        auto again = guarded([&] { return tcp_engine()->connect(socket->id, *remote); });
        *ret = again ? 0 : fail(again.error().errnum);
        return true;
    }
    if (!candidate(fd)) return false;
    const auto entry = g_sockets.find(fd);
    if (!entry) return false;
    const auto remote = endpoint_of(entry->family, addr, len);
    if (!remote || remote->addr.is_any() || kernel_connected(fd)) return false;
    auto local = engine::local_endpoint(fd);
    const Endpoint from = local ? local.value() : Endpoint{};
    FastRef socket =
        adopt(fd, *entry, config::SocketRole::client, from, *remote,
              (entry->family == AF_INET ? "tcp4 connect " : "tcp6 connect ") + remote->to_string());
    if (!socket) return false;
    TcpEngine* tcp = tcp_engine();
    auto connected = guarded([&] { return tcp->connect(socket->id, *remote); });
    if (!connected) {
        // Not routed out of an xlane interface (loopback, another device) or
        // refused by the engine: the kernel connects it, and says the errors.
        socket.reset();
        unadopt(fd, PathReason::kNotAttached, connected.error().describe());
        return false;
    }
    stats_hooks::changed(fd);
    if (socket->nonblocking.load()) {
        *ret = fail(EINPROGRESS);
        return true;
    }
    if (const int error = wait_for(*tcp, *socket, POLLOUT, 0); error != 0) {
        *ret = fail(error);
        return true;
    }
    auto error = guarded([&] { return tcp->take_error(socket->id); });
    const int err = error ? error.value() : error.error().errnum;
    *ret = err == 0 ? 0 : fail(err);
    return true;
}

static bool listen_unshielded(int fd, int backlog, int* ret) {
    if (inside_engine() || !candidate(fd)) return false;
    const auto entry = g_sockets.find(fd);
    if (!entry || kernel_connected(fd)) return false;
    auto local = engine::local_endpoint(fd);
    const Endpoint at = local ? local.value() : Endpoint{};
    FastRef socket =
        adopt(fd, *entry, config::SocketRole::server, at, Endpoint{},
              (entry->family == AF_INET ? "tcp4 listen " : "tcp6 listen ") + at.to_string());
    if (!socket) return false;
    auto status = guarded([&]() -> Result<int> {
        if (auto s = tcp_engine()->listen(socket->id, backlog); !s) return s.error();
        return 0;
    });
    if (!status) {
        socket.reset();
        unadopt(fd, PathReason::kResource, status.error().describe());
        return false;
    }
    record_listener_options(fd, *socket);
    socket->listening.store(true);
    *ret = 0;
    return true;
}

static bool accept_unshielded(int fd, sockaddr* addr, socklen_t* addrlen, int flags, int* ret) {
    if (inside_engine()) return false;
    FastRef listener = tcp_socket(fd);
    if (!listener || !listener->listening) return false;
    TcpEngine* tcp = tcp_engine();
    if (tcp == nullptr) return false;
    const int family = listener->family;
    for (;;) {
        const int conn = libc::socket(
            family, SOCK_STREAM | (flags & (SOCK_NONBLOCK | SOCK_CLOEXEC)), IPPROTO_TCP);
        if (conn < 0) {
            *ret = -1;
            return true;
        }
        auto id = guarded([&] { return tcp->accept(listener->id, conn); });
        if (id) {
            auto event_fd = guarded([&] { return tcp->event_fd(id.value()); });
            auto* socket = new (std::nothrow) FastSocket;
            if (socket == nullptr || !event_fd) {
                delete socket;
                (void)guarded([&] { return tcp->close(id.value(), true); });
                libc::close(conn);
                *ret = fail(ENOMEM);
                return true;
            }
            socket->id = id.value();
            socket->family = family;
            socket->event_fd = event_fd.value();
            socket->tcp.store(true);
            socket->nonblocking.store((flags & SOCK_NONBLOCK) != 0);
            socket->rcvtimeo_ns.store(listener->rcvtimeo_ns.load());
            inherit_options(*listener, conn, *socket);
            SocketEntry entry = classify_socket(family, SOCK_STREAM, IPPROTO_TCP);
            entry.path = SocketPath::kFast;
            entry.reason = PathReason::kNone;
            g_sockets.record(conn, entry);
            g_fast_sockets.attach(conn, socket);
            stats_hooks::opened(conn, entry);
            if (addr != nullptr && addrlen != nullptr) {
                auto peer = guarded([&] { return tcp->peer_address(id.value()); });
                if (peer) write_address(peer.value(), family, addr, addrlen);
            }
            *ret = conn;
            return true;
        }
        libc::close(conn);
        if (id.error().errnum != EAGAIN) {
            *ret = fail(id.error().errnum);
            return true;
        }
        // Connections the kernel took (loopback clients, frames xlane_steer
        // passed) wait in the shadow listener's own queue.
        pollfd shadow{fd, POLLIN, 0};
        timespec zero{0, 0};
        if (::syscall(SYS_ppoll, &shadow, 1, &zero, nullptr, _NSIG / 8) == 1) {
            const int kernel_conn = libc::accept4(fd, addr, addrlen, flags);
            if (kernel_conn >= 0) {
                g_sockets.record(kernel_conn, classify_socket(family, SOCK_STREAM, IPPROTO_TCP));
                if (const auto entry = g_sockets.find(kernel_conn))
                    stats_hooks::opened(kernel_conn, *entry);
                *ret = kernel_conn;
                return true;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                *ret = -1;
                return true;
            }
        }
        if (listener->nonblocking.load()) {
            *ret = fail(EAGAIN);
            return true;
        }
        if (const int error = wait_for(*tcp, *listener, POLLIN, listener->rcvtimeo_ns.load(), fd);
            error != 0) {
            *ret = fail(error);
            return true;
        }
    }
}

static bool sendmsg_unshielded(int fd, const msghdr* msg, int flags, ssize_t* ret) {
    if (inside_engine()) return false;
    FastRef socket = tcp_socket(fd);
    if (!socket || msg == nullptr) return false;
    TcpEngine* tcp = tcp_engine();
    if (tcp == nullptr) return false;
    const size_t total = total_length(*msg);
    const bool nonblocking = socket->nonblocking.load() || (flags & MSG_DONTWAIT) != 0;
    size_t done = 0;
    for (;;) {
        const std::vector<iovec> rest = iovecs_from(*msg, done);
        auto sent = guarded([&] { return tcp->send(socket->id, rest); });
        if (sent) {
            done += sent.value();
            if (done >= total || nonblocking) break;
            continue;
        }
        const int error = sent.error().errnum;
        if (done > 0 && (error != EAGAIN || nonblocking)) break;
        if (error == EAGAIN && !nonblocking) {
            if (const int waited = wait_for(*tcp, *socket, POLLOUT, 0); waited != 0) {
                if (done > 0) break;
                *ret = fail(waited);
                return true;
            }
            continue;
        }
        if (error == EPIPE && (flags & MSG_NOSIGNAL) == 0) ::raise(SIGPIPE);
        *ret = fail(error);
        return true;
    }
    *ret = static_cast<ssize_t>(done);
    return true;
}

static bool recvmsg_unshielded(int fd, msghdr* msg, int flags, ssize_t* ret) {
    if (inside_engine()) return false;
    FastRef socket = tcp_socket(fd);
    if (!socket || msg == nullptr) return false;
    TcpEngine* tcp = tcp_engine();
    if (tcp == nullptr) return false;
    const bool peek = (flags & MSG_PEEK) != 0;
    const bool waitall = (flags & MSG_WAITALL) != 0 && !peek;
    const bool nonblocking = socket->nonblocking.load() || (flags & MSG_DONTWAIT) != 0;
    const size_t total = total_length(*msg);
    msg->msg_namelen = 0;  // a stream socket names no source
    msg->msg_controllen = 0;
    msg->msg_flags = 0;
    if (total == 0) {
        *ret = 0;
        return true;
    }
    size_t got = 0;
    for (;;) {
        const std::vector<iovec> rest = iovecs_from(*msg, got);
        auto read = guarded([&] { return tcp->receive(socket->id, rest, peek); });
        if (read) {
            note_receive_with_data(*socket);
            got += read.value();
            if (read.value() == 0 || !waitall || got >= total) break;
            continue;
        }
        const int error = read.error().errnum;
        if (error != EAGAIN) {
            if (got == 0) {
                *ret = fail(error);
                return true;
            }
            break;
        }
        if (got > 0 && !waitall) break;
        if (nonblocking) {
            if (got > 0) break;
            // A caller that polls: the rings are its own while it does.
            note_empty_receive(*socket);
            if (thread_polls(*socket)) fast_path_rx_polled_empty();
            *ret = fail(EAGAIN);
            return true;
        }
        if (const int waited = wait_for(*tcp, *socket, POLLIN, socket->rcvtimeo_ns.load());
            waited != 0) {
            if (got > 0) break;
            *ret = fail(waited);
            return true;
        }
    }
    *ret = static_cast<ssize_t>(got);
    return true;
}

static bool shutdown_unshielded(int fd, int how, int* ret) {
    if (inside_engine()) return false;
    FastRef socket = tcp_socket(fd);
    if (!socket) return false;
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) {
        *ret = fail(EINVAL);
        return true;
    }
    auto status = guarded([&]() -> Result<int> {
        if (auto s = tcp_engine()->shutdown(socket->id, how); !s) return s.error();
        return 0;
    });
    *ret = status ? 0 : fail(status.error().errnum);
    return true;
}

static bool getsockopt_unshielded(int fd, int level, int name, void* value, socklen_t* len,
                                  int* ret) {
    if (inside_engine()) return false;
    FastRef socket = tcp_socket(fd);
    if (!socket || value == nullptr || len == nullptr) return false;
    TcpEngine* tcp = tcp_engine();
    if (level == SOL_SOCKET && name == SO_ERROR && *len >= static_cast<socklen_t>(sizeof(int))) {
        auto error = guarded([&] { return tcp->take_error(socket->id); });
        const int err = error ? error.value() : 0;
        std::memcpy(value, &err, sizeof(err));
        *len = sizeof(int);
        *ret = 0;
        return true;
    }
    if (level == SOL_SOCKET && name == SO_ACCEPTCONN &&
        *len >= static_cast<socklen_t>(sizeof(int))) {
        const int on = socket->listening.load() ? 1 : 0;
        std::memcpy(value, &on, sizeof(on));
        *len = sizeof(int);
        *ret = 0;
        return true;
    }
    // A connection's MSS (Linux's mss_cache: timestamps excluded), from the
    // SYN on; before connect or listen, the shadow's answer (TCP_MAXSEG as
    // set, or 536).
    if (level == IPPROTO_TCP && name == TCP_MAXSEG &&
        *len >= static_cast<socklen_t>(sizeof(int))) {
        auto info = guarded([&] { return tcp->info(socket->id); });
        // From the SYN on, Linux's mss_cache is the connection's.
        if (!info || (!xlane::tcp::synchronized(info.value().state) &&
                      info.value().state != xlane::tcp::TcpState::kSynSent))
            return false;
        const int mss = static_cast<int>(info.value().snd_mss);
        std::memcpy(value, &mss, sizeof(mss));
        *len = sizeof(int);
        *ret = 0;
        return true;
    }
    if (level == IPPROTO_TCP && name == TCP_INFO) {
        auto info = guarded([&] { return tcp->info(socket->id); });
        if (!info) return false;
        *len = static_cast<socklen_t>(xlane::tcp::fill_linux_tcp_info(
            info.value(), std::span(static_cast<uint8_t*>(value), *len)));
        *ret = 0;
        return true;
    }
    return false;  // the shadow socket keeps what was set on it (TCP_NODELAY, buffers...)
}

static bool setsockopt_unshielded(int fd, int level, int name, const void* value, socklen_t len,
                                  int* ret) {
    if (inside_engine()) return false;
    FastRef socket = tcp_socket(fd);
    if (!socket) return false;
    // The shadow socket first: the kernel validates the option as Linux does
    // (its errno is the answer) and keeps it for getsockopt. Options the
    // engine runs are then read back, effective values as Linux computed them
    // (doubled buffer sizes, clamps), and handed to the engine; the others
    // have no effect on the engine's traffic.
    *ret = libc::setsockopt(fd, level, name, value, len);
    if (*ret != 0) return true;
    if (level == SOL_SOCKET && name == SO_LINGER)
        socket->linger_s.store(linger_seconds(linger_option(fd)));
    // What its connections inherit, also for options the engine does not run.
    if (socket->listening.load()) record_listener_options(fd, *socket);
    if (level == IPPROTO_TCP && name == TCP_MAXSEG && value != nullptr) {
        int set = 0;  // as set: 0 clears it, and reads back as the default
        std::memcpy(&set, value, sizeof(set));
        socket->user_mss.store(static_cast<uint32_t>(std::max(set, 0)));
    }
    if (!engine_option(level, name)) return true;
    const int saved_errno = errno;
    xlane::tcp::SocketOptions options = shadow_options(fd);
    if (const uint32_t mss = socket->user_mss.load(); mss != 0) options.user_mss = mss;
    if (level == IPPROTO_TCP && name == TCP_QUICKACK)
        options.quickack = int_option(fd, IPPROTO_TCP, TCP_QUICKACK, 1) != 0;
    // Set just now: the engine takes the size even when it equals the default.
    if (const int sndbuf = int_option(fd, SOL_SOCKET, SO_SNDBUF, 0);
        level == SOL_SOCKET && (name == SO_SNDBUF || name == SO_SNDBUFFORCE) && sndbuf > 0)
        options.send_buffer = static_cast<size_t>(sndbuf);
    if (const int rcvbuf = int_option(fd, SOL_SOCKET, SO_RCVBUF, 0);
        level == SOL_SOCKET && (name == SO_RCVBUF || name == SO_RCVBUFFORCE) && rcvbuf > 0)
        options.receive_buffer = static_cast<size_t>(rcvbuf);
    (void)guarded([&] { return tcp_engine()->set_options(socket->id, options); });
    errno = saved_errno;
    return true;
}

static bool address_unshielded(int fd, sockaddr* addr, socklen_t* len, int* ret, bool peer) {
    if (inside_engine()) return false;
    FastRef socket = tcp_socket(fd);
    if (!socket || addr == nullptr || len == nullptr) return false;
    TcpEngine* tcp = tcp_engine();
    auto endpoint = guarded(
        [&] { return peer ? tcp->peer_address(socket->id) : tcp->local_address(socket->id); });
    if (!endpoint) {
        if (!peer) return false;  // unbound: the shadow's answer
        *ret = fail(endpoint.error().errnum);
        return true;
    }
    *ret = write_address(endpoint.value(), socket->family, addr, len) ? 0 : fail(EINVAL);
    return true;
}

static bool ioctl_unshielded(int fd, unsigned long request, void* arg, int* ret) {
    if (inside_engine()) return false;
    if (request != FIONREAD && request != SIOCOUTQ && request != SIOCOUTQNSD) return false;
    FastRef socket = tcp_socket(fd);
    if (!socket || arg == nullptr) return false;
    TcpEngine* tcp = tcp_engine();
    auto bytes = guarded([&] {
        if (request == FIONREAD) return tcp->readable_bytes(socket->id);
        if (request == SIOCOUTQ) return tcp->send_queue_bytes(socket->id);
        return tcp->unsent_bytes(socket->id);
    });
    if (!bytes) return false;
    const int value = static_cast<int>(std::min<size_t>(bytes.value(), INT32_MAX));
    std::memcpy(arg, &value, sizeof(value));
    *ret = 0;
    return true;
}

// ---- entry points (exceptions stop here) ----

bool connect(int fd, const sockaddr* addr, socklen_t len, int* ret) {
    // A copy, read as the kernel would: a bad pointer is the kernel's EFAULT
    // (from libc's connect), never a SIGSEGV in the decision.
    sockaddr_storage copy{};
    if (len > sizeof(copy) || !user_readable(addr, len, &copy)) return false;
    const auto* copied = reinterpret_cast<const sockaddr*>(&copy);
    return shielded([&] { return connect_unshielded(fd, copied, len, ret); }, false);
}
bool listen(int fd, int backlog, int* ret) {
    return shielded([&] { return listen_unshielded(fd, backlog, ret); }, false);
}
bool accept(int fd, sockaddr* addr, socklen_t* addrlen, int flags, int* ret) {
    return shielded([&] { return accept_unshielded(fd, addr, addrlen, flags, ret); }, false);
}
bool sendmsg(int fd, const msghdr* msg, int flags, ssize_t* ret) {
    return shielded([&] { return sendmsg_unshielded(fd, msg, flags, ret); }, false);
}
bool recvmsg(int fd, msghdr* msg, int flags, ssize_t* ret) {
    return shielded([&] { return recvmsg_unshielded(fd, msg, flags, ret); }, false);
}
bool shutdown(int fd, int how, int* ret) {
    return shielded([&] { return shutdown_unshielded(fd, how, ret); }, false);
}
bool getsockopt(int fd, int level, int name, void* value, socklen_t* len, int* ret) {
    return shielded([&] { return getsockopt_unshielded(fd, level, name, value, len, ret); }, false);
}
bool setsockopt(int fd, int level, int name, const void* value, socklen_t len, int* ret) {
    return shielded([&] { return setsockopt_unshielded(fd, level, name, value, len, ret); }, false);
}
bool getsockname(int fd, sockaddr* addr, socklen_t* len, int* ret) {
    return shielded([&] { return address_unshielded(fd, addr, len, ret, false); }, false);
}
bool getpeername(int fd, sockaddr* addr, socklen_t* len, int* ret) {
    return shielded([&] { return address_unshielded(fd, addr, len, ret, true); }, false);
}
bool ioctl(int fd, unsigned long request, void* arg, int* ret) {
    return shielded([&] { return ioctl_unshielded(fd, request, arg, ret); }, false);
}

void hand_listeners_to_kernel_before_fork() {
    shielded_void([] {
        if (inside_engine()) return;
        TcpEngine* tcp = tcp_engine();
        if (tcp == nullptr) return;
        const int end = g_fast_sockets.end_fd();
        for (int fd = 0; fd < end; ++fd) {
            FastRef socket = g_fast_sockets.find(fd);
            if (!socket || !socket->tcp.load() || !socket->listening.load() ||
                socket->shared_by_fork.exchange(true))
                continue;  // dup'd fds share the record: once per listener
            auto handed = guarded([&]() -> Result<int> {
                if (auto s = tcp->hand_listener_to_kernel(socket->id); !s) return s.error();
                return 0;
            });
            log_decision(fd, "tcp listener",
                         handed ? "new connections go to the kernel from now on: fork() shares "
                                  "the listener, and only the kernel can hand its connections "
                                  "to every process"
                                : "fork(): " + handed.error().describe());
        }
    });
}

namespace {

// One connection to the kernel: a fresh socket with the shadow's options
// (and file flags) is repaired into it, then takes the place of every fd of
// the connection (dup3 keeps each fd's close-on-exec), which leave the fast path.
void hand_to_kernel(TcpEngine& tcp, FastSocket& socket, const std::vector<int>& fds) {
    const int first = fds.front();
    const int fresh = libc::socket(socket.family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
    if (fresh < 0) {
        log_decision(first, "tcp", "fork(): no socket to hand the connection to the kernel: " +
                                       std::string(std::strerror(errno)));
        return;
    }
    apply_options(listener_options(first), fresh);
    const int status = libc::fcntl(first, F_GETFL);
    if (status >= 0) (void)libc::fcntl(fresh, F_SETFL, status & O_NONBLOCK);
    auto event = guarded([&] { return tcp.hand_connection_to_kernel(socket.id, fresh); });
    if (!event) {
        libc::close(fresh);  // still in repair mode: closing it sends nothing
        log_decision(first, "tcp",
                     "fork(): the connection stays in this process (the child's copy is an "
                     "unconnected socket): " +
                         event.error().describe());
        return;
    }
    for (const int fd : fds) {
        const int descriptor_flags = libc::fcntl(fd, F_GETFD);
        const int cloexec = descriptor_flags >= 0 && (descriptor_flags & FD_CLOEXEC) ? O_CLOEXEC : 0;
        if (libc::dup3(fresh, fd, cloexec) < 0) continue;  // cannot fail for a valid fd
        epoll_on_socket_released(fd);
        FastSocket* detached = g_fast_sockets.detach(fd);
        set_path(fd, SocketPath::kKernel, PathReason::kForked,
                 "handed to the kernel at fork() (TCP_REPAIR), shared with the child");
        log_decision(fd, "tcp", "kernel path from now on: fork() handed the connection to the "
                                "kernel, which parent and child share");
        if (detached != nullptr) drop_fd_ref(detached);
    }
    libc::close(fresh);
}

}  // namespace

void hand_connections_to_kernel_before_fork() {
    shielded_void([] {
        if (inside_engine() || !settings_loaded() || !settings().tcp_fork_share) return;
        TcpEngine* tcp = tcp_engine();
        if (tcp == nullptr) return;
        // One pass over the fd table: each connection with all its fds
        // (dup'd fds share the record), in the order of its lowest fd.
        std::vector<std::pair<FastRef, std::vector<int>>> connections;
        std::unordered_map<const FastSocket*, size_t> index;
        const int end = g_fast_sockets.end_fd();
        for (int fd = 0; fd < end; ++fd) {
            FastRef socket = g_fast_sockets.find(fd);
            if (!socket || !socket->tcp.load() || socket->listening.load()) continue;
            const auto [at, fresh] = index.try_emplace(socket.get(), connections.size());
            if (fresh)
                connections.emplace_back(std::move(socket), std::vector<int>{fd});
            else
                connections[at->second].second.push_back(fd);
        }
        for (auto& [socket, fds] : connections) hand_to_kernel(*tcp, *socket, fds);
    });
}

bool hold_interest(int fd, short events, bool edge_triggered, int* event_fd, bool* listening,
                   uint32_t* hold) {
    if (inside_engine() || !serves(fd)) return false;
    return shielded(
        [&] {
            FastRef socket = tcp_socket(fd);
            TcpEngine* tcp = tcp_engine();
            if (!socket || tcp == nullptr) return false;
            const auto held = guarded([&] {
                return tcp->hold_interest(socket->id, static_cast<uint16_t>(events));
            });
            if (edge_triggered) (void)guarded([&] { return tcp->watch_edges(socket->id); });
            *event_fd = socket->event_fd;
            *listening = socket->listening.load();
            *hold = held ? socket->id : 0;
            return true;
        },
        false);
}

void release_interest(uint32_t hold, short events) {
    if (hold == 0) return;
    const int saved = errno;  // the waiter's result stands
    shielded_void([&] {
        TcpEngine* tcp = tcp_engine();
        // Gone with its socket already (closed): nothing to release.
        if (tcp != nullptr)
            (void)guarded(
                [&] { return tcp->release_interest(hold, static_cast<uint16_t>(events)); });
    });
    errno = saved;
}

short poll_mask(int fd) {
    return shielded(
        [&]() -> short {
            FastRef socket = tcp_socket(fd);
            TcpEngine* tcp = tcp_engine();
            if (!socket || tcp == nullptr) return 0;
            auto mask = guarded([&] { return tcp->poll_mask(socket->id); });
            return mask ? static_cast<short>(mask.value()) : short{POLLERR};
        },
        short{0});
}

}  // namespace xlane::preload::fast::tcp
