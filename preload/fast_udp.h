// The UDP fast path as the interposed calls see it: each function either
// serves the call for a socket the engine serves (returning true, the
// call's result in *ret and errno set when it is -1) or returns false, and
// the caller makes the libc call. The per-socket decision (rules, engine,
// adoption of the kernel socket) happens here, at a UDP socket's first
// bind, connect or send. Costs one table lookup for every other fd.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "socket_table.h"

namespace xlane::preload::fast {

// Whether `fd` may concern the fast path (served by it, or a UDP socket
// still to be decided); false for every other fd. Inline: the hot filter.
[[nodiscard]] inline bool may_serve(int fd) {
    const auto entry = g_sockets.find(fd);
    return entry.has_value() &&
           (entry->path == SocketPath::kFast || entry->reason == PathReason::kUndecided);
}
[[nodiscard]] inline bool serves(int fd) {
    const auto entry = g_sockets.find(fd);
    return entry.has_value() && entry->path == SocketPath::kFast;
}

bool bind(int fd, const sockaddr* addr, socklen_t len, int* ret);
bool connect(int fd, const sockaddr* addr, socklen_t len, int* ret);
bool sendmsg(int fd, const msghdr* msg, int flags, ssize_t* ret);
bool sendmmsg(int fd, mmsghdr* msgs, unsigned count, int flags, int* ret);
bool recvmsg(int fd, msghdr* msg, int flags, ssize_t* ret);
bool recvmmsg(int fd, mmsghdr* msgs, unsigned count, int flags, timespec* timeout, int* ret);
bool setsockopt(int fd, int level, int name, const void* value, socklen_t len, int* ret);
bool ioctl(int fd, unsigned long request, void* arg, int* ret);
// shutdown(): the socket goes back to the kernel first (then libc's call).
void before_shutdown(int fd);
// fcntl(F_SETFL) and ioctl(FIONBIO) succeeded: track O_NONBLOCK.
void after_set_nonblocking(int fd, bool nonblocking);

// Descriptor table changes. before_close() runs before the kernel close:
// the last fd of an engine socket closes the engine socket (steering
// entries removed) while the fd number is still ours.
void before_close(int fd);
void before_close_range(unsigned first, unsigned last);
// dup2/dup3 onto `to`: the kernel closes what `to` names, if `from` is valid.
void before_dup_onto(int from, int to);
// `to` now names what `from` names.
void after_dup(int from, int to);

// atexit: every engine socket goes back to the kernel (steering removed).
void release_all_for_exit();
// pthread_atfork child: the parent's engine sockets become kernel sockets
// here; async-signal-safe (no lock, no allocation).
void abandon_all_after_fork();

}  // namespace xlane::preload::fast
