// splice() with a TCP socket the fast path serves. The kernel's splice reads
// and writes the socket's kernel queues, but a fast socket's stream lives in
// the TCP engine and its kernel socket is an unconnected shadow: splice into
// it failed with EPIPE (HAProxy's `option splice-*` stopped the transfer)
// and splice from it never saw a byte. Both directions are done with the
// engine's send and receive here, through a bounce buffer, with splice's
// results: the bytes moved (short when one side takes or has no more), 0 at
// the end of the stream, -1 with splice's errno (EAGAIN, EPIPE with SIGPIPE,
// EINTR, ...), and never a byte taken from one side that the other did not get.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace xlane::preload {

// splice(fast TCP socket -> pipe): splice_socket_to_pipe (loopback_splice.h)
// with the engine's receive.
[[nodiscard]] ssize_t splice_fast_socket_to_pipe(int socket_fd, int pipe_fd, size_t len,
                                                 unsigned flags);

// splice(pipe -> fast TCP socket): the bytes are copied out of the pipe with
// tee() (which leaves them there), sent, and only then are as many as the
// socket took removed from the pipe; a socket that takes fewer (non-blocking,
// a signal) leaves the rest in the pipe, as the kernel's splice does.
[[nodiscard]] ssize_t splice_pipe_to_fast_socket(int pipe_fd, int socket_fd, size_t len,
                                                 unsigned flags);

}  // namespace xlane::preload
