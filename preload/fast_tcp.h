// The TCP fast path as the interposed calls see it (the TCP counterpart of
// fast_udp.h): each function serves the call for a TCP socket that the
// engine serves or may serve (returning true, the result in *ret, errno set
// when it is -1), or returns false and the caller makes the libc call.
//
// A TCP socket is decided at connect() (client) or listen() (server): the
// rules, then the engine, which adopts the kernel socket as its shadow. A
// connect whose route does not leave through an xlane interface (loopback,
// other devices) stays on the kernel path. XLANE_TCP: auto (the default)
// takes the fast path when the process has CAP_NET_ADMIN, 1 always, 0 never.
//
// Socket options go to the shadow socket first (the kernel validates them,
// getsockopt reads them there); those the engine runs (NODELAY, CORK,
// QUICKACK, keepalive, USER_TIMEOUT, CONGESTION, SNDBUF/RCVBUF) are then
// read back and handed to it, at adoption too for options set before
// connect/listen; accepted sockets inherit their listener's.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include "socket_table.h"

namespace xlane::preload::fast::tcp {

// XLANE_TCP=1, or XLANE_TCP=auto with CAP_NET_ADMIN (asked at each call).
[[nodiscard]] bool enabled();
// A TCP socket still on the kernel path that the fast path may take.
[[nodiscard]] inline bool candidate(int fd) {
    const auto entry = g_sockets.find(fd);
    return entry.has_value() && entry->type == SOCK_STREAM &&
           entry->reason == PathReason::kTcpUndecided && enabled();
}
// A TCP socket the engine serves.
[[nodiscard]] inline bool serves(int fd) {
    const auto entry = g_sockets.find(fd);
    return entry.has_value() && entry->type == SOCK_STREAM && entry->path == SocketPath::kFast;
}

bool connect(int fd, const sockaddr* addr, socklen_t len, int* ret);
bool listen(int fd, int backlog, int* ret);
bool accept(int fd, sockaddr* addr, socklen_t* addrlen, int flags, int* ret);
bool sendmsg(int fd, const msghdr* msg, int flags, ssize_t* ret);
bool recvmsg(int fd, msghdr* msg, int flags, ssize_t* ret);
bool shutdown(int fd, int how, int* ret);
bool getsockopt(int fd, int level, int name, void* value, socklen_t* len, int* ret);
bool setsockopt(int fd, int level, int name, const void* value, socklen_t len, int* ret);
bool getsockname(int fd, sockaddr* addr, socklen_t* len, int* ret);
bool getpeername(int fd, sockaddr* addr, socklen_t* len, int* ret);
bool ioctl(int fd, unsigned long request, void* arg, int* ret);

// Readiness (readiness_poll.cpp, readiness_epoll.cpp): holds `events` in
// the socket's interest (TcpEngine::hold_interest) and gives the eventfd that
// is readable while its poll mask meets the interest of all its watchers;
// *hold names the hold for release_interest (the engine's socket id, never
// reused). poll_mask: the mask now.
bool hold_interest(int fd, short events, bool edge_triggered, int* event_fd, bool* listening,
                   uint32_t* hold);
void release_interest(uint32_t hold, short events);
short poll_mask(int fd);

// fork() (pthread_atfork prepare, in the parent): a listener the child
// inherits is shared, and the child cannot accept from the parent's engine.
// New connections of every fast TCP listener go to its kernel shadow from
// now on, where any process holding the fd accepts them; the engine's
// already-queued connections are still handed out by the parent's accept.
void hand_listeners_to_kernel_before_fork();
// fork() too, with XLANE_TCP_FORK=share: each established fast connection is
// handed to the kernel (TcpEngine::hand_connection_to_kernel) and its fds
// become that kernel socket, on the kernel path from now on, so that the
// child shares it with the parent as it would any socket. Connections the
// kernel cannot take stay with the parent (the child's copy: unconnected).
void hand_connections_to_kernel_before_fork();

}  // namespace xlane::preload::fast::tcp
