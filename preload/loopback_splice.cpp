#include "loopback_splice.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "common/high_fd.h"
#include "libc_table.h"
#include "xlane/abi.h"

namespace xlane::preload {
namespace {

constexpr int kMapUnknown = -1;
// The pinned map is there but its entries are not this library's
// xlane_lb_flow_state (a different xlane version): never looked up.
constexpr int kMapMismatch = -2;
// How often a process re-checks for the pinned map when it was absent: the
// loopback path may be enabled while the program runs.
constexpr int64_t kRetryNs = 1'000'000'000;

std::atomic<int> g_runs_map_fd{kMapUnknown};
// The pinned SOCKHASH (xlane_lb_socks), opened with the runs map and set
// before it: -1 when it could not be opened or is not this library's.
std::atomic<int> g_socks_map_fd{kMapUnknown};
std::atomic<int64_t> g_next_open_ns{0};

int64_t coarse_now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);  // vDSO: no system call
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

long bpf_call(int cmd, bpf_attr& attr) {
    return ::syscall(SYS_bpf, cmd, &attr, sizeof(attr));
}

// Appends `text` at out[*used], keeping room for the terminating NUL.
bool append(char* out, size_t size, size_t* used, const char* text) {
    const size_t n = std::strlen(text);
    if (*used + n + 1 > size) return false;
    std::memcpy(out + *used, text, n + 1);
    *used += n;
    return true;
}

// The path of the loopback pin `name` as userspace/bpf/bpffs.cpp builds it
// (XLANE_BPFFS, then xlane/netns-<inode>/loopback/), without allocating (no
// snprintf).
bool loopback_pin_path(char* out, size_t size, const char* name) {
    const char* root = ::secure_getenv("XLANE_BPFFS");
    if (root == nullptr || root[0] != '/') root = "/sys/fs/bpf";
    struct stat ns {};
    if (::stat("/proc/self/ns/net", &ns) != 0) return false;
    char digits[24];
    size_t d = sizeof(digits);
    digits[--d] = '\0';
    unsigned long long inode = ns.st_ino;
    do {
        digits[--d] = static_cast<char>('0' + inode % 10);
        inode /= 10;
    } while (inode != 0 && d > 0);
    size_t used = 0;
    out[0] = '\0';
    return append(out, size, &used, root) && append(out, size, &used, "/xlane/netns-") &&
           append(out, size, &used, digits + d) && append(out, size, &used, "/loopback/") &&
           append(out, size, &used, name);
}

// A read-only fd of a pinned map whose key and value sizes are the given
// ones (a lookup writes value_size bytes into our buffer): -1 when there is
// no such pin, kMapMismatch when its sizes differ (another xlane version).
int open_pinned_map(const char* name, uint32_t key_size, uint32_t value_size) {
    char path[512];
    if (!loopback_pin_path(path, sizeof(path), name)) return -1;
    bpf_attr attr{};
    attr.pathname = reinterpret_cast<uintptr_t>(path);
    attr.file_flags = BPF_F_RDONLY;
    // Always O_CLOEXEC; above the application's descriptors (common/high_fd.h).
    const int fd = move_fd_high(static_cast<int>(bpf_call(BPF_OBJ_GET, attr)));
    if (fd < 0) return -1;
    bpf_map_info info{};
    bpf_attr info_attr{};
    info_attr.info.bpf_fd = static_cast<uint32_t>(fd);
    info_attr.info.info_len = sizeof(info);
    info_attr.info.info = reinterpret_cast<uintptr_t>(&info);
    if (bpf_call(BPF_OBJ_GET_INFO_BY_FD, info_attr) == 0 && info.key_size == key_size &&
        info.value_size == value_size)
        return fd;
    libc::close(fd);
    return kMapMismatch;
}

// Publishes `fd` in `slot` unless another thread did first (then closes it
// and returns theirs).
int publish_fd(std::atomic<int>& slot, int fd) {
    int expected = kMapUnknown;
    if (slot.compare_exchange_strong(expected, fd, std::memory_order_acq_rel)) return fd;
    if (fd >= 0) libc::close(fd);
    return expected;
}

// The read-only fd of the pinned xlane_lb_runs map, opened on first need;
// -1 while the loopback path is not enabled in this namespace, kMapMismatch
// for good when the pinned map is not this library's. The SOCKHASH is
// opened first and published before it.
int runs_map_fd() {
    int fd = g_runs_map_fd.load(std::memory_order_acquire);
    if (fd >= 0 || fd == kMapMismatch) return fd;
    const int64_t now = coarse_now_ns();
    if (now < g_next_open_ns.load(std::memory_order_relaxed)) return -1;
    g_next_open_ns.store(now + kRetryNs, std::memory_order_relaxed);

    fd = open_pinned_map("xlane_lb_runs", sizeof(xlane_lb_key), sizeof(xlane_lb_flow_state));
    if (fd == -1) return -1;
    if (g_socks_map_fd.load(std::memory_order_acquire) == kMapUnknown) {
        const int socks = open_pinned_map("xlane_lb_socks", sizeof(xlane_lb_key), sizeof(uint64_t));
        (void)publish_fd(g_socks_map_fd, socks >= 0 ? socks : -1);
    }
    return publish_fd(g_runs_map_fd, fd);
}

// Whether the SOCKHASH holds this very socket: its key maps to its cookie
// (a lookup from user space gives the socket's cookie). Asked when the
// socket has no xlane_lb_runs entry, which an LRU eviction can cause.
bool in_sockhash(int fd, const xlane_lb_key& key) {
    const int map = g_socks_map_fd.load(std::memory_order_acquire);
    if (map < 0) return false;
    uint64_t found = 0, own = 0;
    bpf_attr attr{};
    attr.map_fd = static_cast<uint32_t>(map);
    attr.key = reinterpret_cast<uintptr_t>(&key);
    attr.value = reinterpret_cast<uintptr_t>(&found);
    // Most sockets asked about were never inserted (not local): the lookup
    // fails and the cookie is not needed.
    if (bpf_call(BPF_MAP_LOOKUP_ELEM, attr) != 0) return false;
    socklen_t len = sizeof(own);
    return libc::getsockopt(fd, SOL_SOCKET, SO_COOKIE, &own, &len) == 0 && found == own;
}

// The socket's xlane_lb_key, as xlane_lb_sops builds it from its own side:
// IPv4 addresses IPv4-mapped, ports in host order.
bool socket_key(int fd, xlane_lb_key& key) {
    sockaddr_storage local{}, remote{};
    socklen_t local_len = sizeof(local), remote_len = sizeof(remote);
    if (libc::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) return false;
    if (libc::getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &remote_len) != 0) return false;
    key = {};
    auto fill = [](const sockaddr_storage& ss, xlane_addr& addr, uint16_t& port) {
        if (ss.ss_family == AF_INET) {
            const auto& in = reinterpret_cast<const sockaddr_in&>(ss);
            addr.bytes[10] = 0xff;
            addr.bytes[11] = 0xff;
            std::memcpy(&addr.bytes[12], &in.sin_addr, 4);
            port = ntohs(in.sin_port);
            return true;
        }
        if (ss.ss_family == AF_INET6) {
            const auto& in6 = reinterpret_cast<const sockaddr_in6&>(ss);
            std::memcpy(addr.bytes, &in6.sin6_addr, 16);
            port = ntohs(in6.sin6_port);
            return true;
        }
        return false;
    };
    return fill(local, key.local_addr, key.local_port) &&
           fill(remote, key.remote_addr, key.remote_port);
}

bool is_tcp_socket(int fd) {
    int type = 0;
    socklen_t len = sizeof(type);
    if (libc::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
        return false;
    int protocol = 0;
    len = sizeof(protocol);
    return libc::getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) == 0 &&
           protocol == IPPROTO_TCP;
}

// Room left in the pipe: what a write of that many bytes can take at once.
long pipe_room(int pipe_fd) {
    const int size = libc::fcntl(pipe_fd, F_GETPIPE_SZ);
    if (size < 0) return -1;
    int queued = 0;
    if (libc::ioctl(pipe_fd, FIONREAD, &queued) != 0) return -1;
    return size > queued ? size - queued : 0;
}

}  // namespace

bool loopback_may_redirect_into(int fd) {
    const int map = runs_map_fd();
    if (map == kMapMismatch) return is_tcp_socket(fd);  // cannot tell: assume it may
    if (map < 0 || !is_tcp_socket(fd)) return false;
    xlane_lb_key key{};
    if (!socket_key(fd, key)) return false;
    xlane_lb_flow_state flow{};
    bpf_attr attr{};
    attr.map_fd = static_cast<uint32_t>(map);
    attr.key = reinterpret_cast<uintptr_t>(&key);
    attr.value = reinterpret_cast<uintptr_t>(&flow);
    // No entry: never inserted, or the LRU evicted it (entries of closed
    // connections stay until then). A socket still in the SOCKHASH may be
    // redirected into, whatever it was.
    if (bpf_call(BPF_MAP_LOOKUP_ELEM, attr) != 0) return in_sockhash(fd, key);
    // Out of the SOCKHASH: its receives are plain TCP again.
    if (flow.released != 0) return false;
    // Recreated after an LRU eviction: what it received is unknown.
    if (flow.inserted == 0) return true;
    // Only the spin and SO_RCVLOWAT policies stop redirects into a socket
    // for good; release_to_kernel's raise of `leaving` may be taken back.
    if (flow.leaving < XLANE_LB_LEAVING_FOR_GOOD || flow.received != 0 || flow.announcing != 0)
        return true;
    // Stopped for good, and nothing redirected in or announced: the peer
    // saw `leaving` before any redirect, so the TCP queue is all there is.
    // One copy of the entry could still miss a first redirect that set
    // `received` and took its announcement back while the copy was made
    // (the copy's order of fields is not defined); a second one, made once
    // `leaving` was seen, cannot (struct xlane_lb_flow_state).
    if (bpf_call(BPF_MAP_LOOKUP_ELEM, attr) != 0) return false;
    return flow.released == 0 && (flow.received != 0 || flow.announcing != 0);
}

bool check_splice_ends(int socket_fd, int pipe_fd, int refused_access, unsigned flags,
                       SpliceEnds* ends) {
    const int socket_flags = libc::fcntl(socket_fd, F_GETFL);
    const int pipe_flags = libc::fcntl(pipe_fd, F_GETFL);
    if (socket_flags < 0 || pipe_flags < 0) return false;  // EBADF, as splice
    if ((pipe_flags & O_ACCMODE) == refused_access) {
        errno = EBADF;
        return false;
    }
    ends->pipe_flags = pipe_flags;
    ends->nonblocking = (flags & SPLICE_F_NONBLOCK) != 0 || (socket_flags & O_NONBLOCK) != 0;
    return true;
}

ssize_t splice_socket_to_pipe(int socket_fd, int pipe_fd, size_t len, unsigned flags,
                              SocketReceive receive) {
    if (receive == nullptr)
        receive = [](int fd, void* buf, size_t n, int recv_flags) {
            return libc::recv(fd, buf, n, recv_flags);
        };
    SpliceEnds ends;
    if (!check_splice_ends(socket_fd, pipe_fd, O_RDONLY, flags, &ends)) return -1;
    if (len == 0) return 0;
    const bool nonblocking = ends.nonblocking;
    const int pipe_flags = ends.pipe_flags;

    // A pipe without readers: splice raises SIGPIPE and fails with EPIPE
    // before it consumes anything from the socket.
    pollfd out{pipe_fd, POLLOUT, 0};
    for (;;) {
        if (libc::poll(&out, 1, 0) < 0) return -1;
        if (out.revents & POLLERR) {
            ::raise(SIGPIPE);
            errno = EPIPE;
            return -1;
        }
        if (out.revents & POLLOUT) break;
        if (nonblocking || (pipe_flags & O_NONBLOCK)) {
            errno = EAGAIN;
            return -1;
        }
        if (libc::poll(&out, 1, -1) < 0) return -1;  // EINTR as splice would
    }

    // A 16 KiB bounce buffer on the stack (threads may have small stacks);
    // after the first chunk the rest is taken only while it is already there.
    char buffer[16384];
    size_t moved = 0;
    while (moved < len) {
        const long room = pipe_room(pipe_fd);
        if (room < 0) return moved > 0 ? static_cast<ssize_t>(moved) : -1;
        if (room == 0) break;
        size_t want = len - moved;
        if (want > static_cast<size_t>(room)) want = static_cast<size_t>(room);
        if (want > sizeof(buffer)) want = sizeof(buffer);
        const int recv_flags = (nonblocking || moved > 0) ? MSG_DONTWAIT : 0;
        const ssize_t got = receive(socket_fd, buffer, want, recv_flags);
        if (got <= 0) {
            if (moved > 0) break;  // EAGAIN (or EOF) after some bytes: report those
            return got;            // 0 at EOF, -1 with errno as recv/splice
        }
        size_t written = 0;
        while (written < static_cast<size_t>(got)) {
            const ssize_t w =
                libc::write(pipe_fd, buffer + written, static_cast<size_t>(got) - written);
            if (w < 0) {
                if (errno == EINTR || errno == EAGAIN) {
                    // The room was measured: only another writer can have
                    // filled it. Wait for room rather than drop taken bytes.
                    pollfd wait_out{pipe_fd, POLLOUT, 0};
                    (void)libc::poll(&wait_out, 1, -1);
                    continue;
                }
                // The readers went away after the check: the bytes taken from
                // the socket cannot be delivered anywhere; report EPIPE.
                return moved > 0 ? static_cast<ssize_t>(moved) : -1;
            }
            written += static_cast<size_t>(w);
        }
        moved += static_cast<size_t>(got);
        if (static_cast<size_t>(got) < want) break;  // the socket had no more
    }
    return static_cast<ssize_t>(moved);
}

}  // namespace xlane::preload
