// splice() from a socket on the loopback path. The kernel's tcp_splice_read()
// reads only the TCP receive queue, while the sk_msg redirect of the loopback
// path queues bytes on the receiver's psock: a splice() from such a socket
// would block (or return EAGAIN) with data waiting. For those sockets the
// wrapper moves the bytes with recv() + write() instead, which reads both
// queues in order (tcp_bpf_recvmsg), so the caller sees the same stream.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace xlane::preload {

// True when `fd` is a TCP socket that the loopback path has in its SOCKHASH
// (or may still redirect into), per the pinned xlane_lb_runs map of this
// network namespace. False when the loopback path is not enabled here, the
// socket is not local, or the map cannot be read (then splice is the kernel's).
[[nodiscard]] bool loopback_may_redirect_into(int fd);

// splice()'s checks before a byte moves, for a socket and a pipe: both
// descriptors open (else EBADF) and the pipe open for its part (a pipe
// opened with `refused_access`, O_RDONLY for one written or O_WRONLY for one
// read: EBADF). On success fills `ends`: the pipe's file flags, and whether
// the call must not wait as the kernel decides it (SPLICE_F_NONBLOCK, or a
// non-blocking socket, which makes the pipe side non-blocking too).
struct SpliceEnds {
    int pipe_flags = 0;
    bool nonblocking = false;
};
[[nodiscard]] bool check_splice_ends(int socket_fd, int pipe_fd, int refused_access,
                                     unsigned flags, SpliceEnds* ends);

// How splice_socket_to_pipe() takes bytes off the socket: recv()'s contract
// (MSG_DONTWAIT is the only flag it passes).
using SocketReceive = ssize_t (*)(int fd, void* buf, size_t len, int flags);

// splice(socket -> pipe) done as a receive into a bounce buffer, then write()
// into the pipe, never taking more than the pipe has room for, so no byte is
// consumed that cannot be delivered. Same return values and errno as splice:
// bytes moved, 0 at EOF, -1 with EAGAIN/EPIPE (and SIGPIPE)/... on error.
// `receive` is the kernel's recv() for the loopback path (the default), the
// TCP engine's for a fast socket (fast_splice.h).
[[nodiscard]] ssize_t splice_socket_to_pipe(int socket_fd, int pipe_fd, size_t len, unsigned flags,
                                            SocketReceive receive = nullptr);

}  // namespace xlane::preload
