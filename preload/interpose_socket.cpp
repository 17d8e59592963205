// Interposed socket lifecycle and option calls. The calls that create sockets
// record them in the socket table with their path; today every path is the
// kernel's, so each call ends in the original libc function.
#include "interpose.h"
#include "libc_table.h"
#include "socket_table.h"

using xlane::preload::classify_socket;
using xlane::preload::g_sockets;
namespace libc = xlane::preload::libc;

XLANE_INTERPOSE int socket(int family, int type, int protocol) noexcept {
    const int fd = libc::socket(family, type, protocol);
    if (fd >= 0) g_sockets.record(fd, classify_socket(family, type, protocol));
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
    const int conn = libc::accept(fd, addr, addrlen);
    if (conn >= 0) g_sockets.copy(fd, conn);
    return conn;
}

XLANE_INTERPOSE int accept4(int fd, sockaddr* addr, socklen_t* addrlen, int flags) {
    const int conn = libc::accept4(fd, addr, addrlen, flags);
    if (conn >= 0) g_sockets.copy(fd, conn);
    return conn;
}

XLANE_INTERPOSE int bind(int fd, const sockaddr* addr, socklen_t len) noexcept {
    return libc::bind(fd, addr, len);
}

XLANE_INTERPOSE int listen(int fd, int backlog) noexcept {
    return libc::listen(fd, backlog);
}

XLANE_INTERPOSE int connect(int fd, const sockaddr* addr, socklen_t len) {
    return libc::connect(fd, addr, len);
}

XLANE_INTERPOSE int shutdown(int fd, int how) noexcept {
    return libc::shutdown(fd, how);
}

XLANE_INTERPOSE int getsockopt(int fd, int level, int name, void* value, socklen_t* len) noexcept {
    return libc::getsockopt(fd, level, name, value, len);
}

XLANE_INTERPOSE int setsockopt(int fd, int level, int name, const void* value,
                               socklen_t len) noexcept {
    return libc::setsockopt(fd, level, name, value, len);
}

XLANE_INTERPOSE int getsockname(int fd, sockaddr* addr, socklen_t* len) noexcept {
    return libc::getsockname(fd, addr, len);
}

XLANE_INTERPOSE int getpeername(int fd, sockaddr* addr, socklen_t* len) noexcept {
    return libc::getpeername(fd, addr, len);
}
