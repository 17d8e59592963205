// Interposed socket lifecycle and option calls. The calls that create sockets
// record them in the socket table; a UDP socket's path is decided at its first
// bind or connect (or send), where the fast path may adopt it; everything the
// fast path does not serve ends in the original libc function.
#include "fast_socket.h"
#include "fast_tcp.h"
#include "fast_udp.h"
#include "interpose.h"
#include "libc_table.h"
#include "receive_look.h"
#include "socket_table.h"
#include "stats_hooks.h"

using xlane::preload::classify_socket;
using xlane::preload::g_sockets;
namespace libc = xlane::preload::libc;
namespace stats_hooks = xlane::preload::stats_hooks;
namespace tcp = xlane::preload::fast::tcp;

XLANE_INTERPOSE int socket(int family, int type, int protocol) noexcept {
    const int fd = libc::socket(family, type, protocol);
    if (fd >= 0) {
        const auto entry = classify_socket(family, type, protocol);
        g_sockets.record(fd, entry);
        // The engine's own sockets (link queries, ...) are not the program's.
        if (!xlane::preload::inside_engine()) stats_hooks::opened(fd, entry, /*fresh=*/true);
    }
    return fd;
}

XLANE_INTERPOSE int socketpair(int family, int type, int protocol, int fds[2]) noexcept {
    const int ret = libc::socketpair(family, type, protocol, fds);
    if (ret == 0) {
        const auto entry = classify_socket(family, type, protocol);
        g_sockets.record(fds[0], entry);
        g_sockets.record(fds[1], entry);
    }
    return ret;
}

// An accepted socket is of the listener's family, type and protocol, so it
// takes the listener's path.
XLANE_INTERPOSE int accept(int fd, sockaddr* addr, socklen_t* addrlen) {
    int served = 0;
    if (tcp::serves(fd) && tcp::accept(fd, addr, addrlen, 0, &served)) return served;
    const int conn = libc::accept(fd, addr, addrlen);
    if (conn >= 0) {
        g_sockets.copy(fd, conn);
        if (const auto entry = g_sockets.find(conn)) stats_hooks::opened(conn, *entry);
    }
    return conn;
}

XLANE_INTERPOSE int accept4(int fd, sockaddr* addr, socklen_t* addrlen, int flags) {
    int served = 0;
    if (tcp::serves(fd) && tcp::accept(fd, addr, addrlen, flags, &served)) return served;
    const int conn = libc::accept4(fd, addr, addrlen, flags);
    if (conn >= 0) {
        g_sockets.copy(fd, conn);
        if (const auto entry = g_sockets.find(conn)) stats_hooks::opened(conn, *entry);
    }
    return conn;
}

XLANE_INTERPOSE int bind(int fd, const sockaddr* addr, socklen_t len) noexcept {
    // Bound already (connect or listen decided it), as the kernel says; the
    // engine's own bind of the shadow socket is a plain one.
    if (tcp::serves(fd) && !xlane::preload::inside_engine()) {
        errno = EINVAL;
        return -1;
    }
    int ret = 0;
    if (!(xlane::preload::fast::may_serve(fd) && xlane::preload::fast::bind(fd, addr, len, &ret)))
        ret = libc::bind(fd, addr, len);
    if (ret == 0) stats_hooks::changed(fd);  // the endpoint `xlane sockets` shows
    return ret;
}

XLANE_INTERPOSE int listen(int fd, int backlog) noexcept {
    int ret = 0;
    if (!(tcp::candidate(fd) && tcp::listen(fd, backlog, &ret))) ret = libc::listen(fd, backlog);
    if (ret == 0) stats_hooks::changed(fd);  // listen() binds an unbound socket
    return ret;
}

XLANE_INTERPOSE int connect(int fd, const sockaddr* addr, socklen_t len) {
    int ret = 0;
    if ((tcp::candidate(fd) || tcp::serves(fd)) && tcp::connect(fd, addr, len, &ret)) {
        // served by the TCP fast path
    } else if (!(xlane::preload::fast::may_serve(fd) &&
                 xlane::preload::fast::connect(fd, addr, len, &ret))) {
        ret = libc::connect(fd, addr, len);
    }
    if (ret == 0 || errno == EINPROGRESS) stats_hooks::changed(fd);  // keeps errno
    return ret;
}

XLANE_INTERPOSE int shutdown(int fd, int how) noexcept {
    int served = 0;
    if (tcp::serves(fd) && tcp::shutdown(fd, how, &served)) return served;
    if (xlane::preload::fast::serves(fd)) xlane::preload::fast::before_shutdown(fd);
    return libc::shutdown(fd, how);
}

XLANE_INTERPOSE int getsockopt(int fd, int level, int name, void* value, socklen_t* len) noexcept {
    int served = 0;
    if (tcp::serves(fd) && tcp::getsockopt(fd, level, name, value, len, &served)) return served;
    return libc::getsockopt(fd, level, name, value, len);
}

XLANE_INTERPOSE int setsockopt(int fd, int level, int name, const void* value,
                               socklen_t len) noexcept {
    // A receive mark above 1 makes poll() and a non-blocking receive disagree:
    // every thread decides again, after the change.
    struct ForgetLooksAfter {
        bool mark;
        ~ForgetLooksAfter() {
            if (mark) xlane::preload::forget_receive_looks();
        }
    } forget_after{level == SOL_SOCKET && name == SO_RCVLOWAT};
    int ret = 0;
    if (tcp::serves(fd) && tcp::setsockopt(fd, level, name, value, len, &ret)) return ret;
    if (xlane::preload::fast::may_serve(fd) &&
        xlane::preload::fast::setsockopt(fd, level, name, value, len, &ret))
        return ret;
    return libc::setsockopt(fd, level, name, value, len);
}

XLANE_INTERPOSE int getsockname(int fd, sockaddr* addr, socklen_t* len) noexcept {
    int served = 0;
    if (tcp::serves(fd) && tcp::getsockname(fd, addr, len, &served)) return served;
    return libc::getsockname(fd, addr, len);
}

XLANE_INTERPOSE int getpeername(int fd, sockaddr* addr, socklen_t* len) noexcept {
    int served = 0;
    if (tcp::serves(fd) && tcp::getpeername(fd, addr, len, &served)) return served;
    return libc::getpeername(fd, addr, len);
}
