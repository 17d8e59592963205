// A test implementation of preload/fast_path.h: real UDP sockets made
// "accelerated" by hand, each with a real eventfd that is readable exactly
// while its (counted) user-space queue is non-empty, as the UDP engine keeps it.
// Linked into the readiness test binary only, never into libxlane.so.
#pragma once

#include <cstddef>

namespace xlane::test {

// A real kernel UDP socket (non-blocking), recorded in the preload socket
// table as socket() under LD_PRELOAD would record it.
int udp_socket(int family);

// The socket is served by the fake fast path from now on: an eventfd is
// created and epoll sets that already hold it are told (as fast_udp.cpp does).
void accelerate(int fd);
// `copy` (a dup of accelerated `original`) names the same fast socket: same
// eventfd, as libxlane.so's dup() makes it. Undone by close_socket(copy).
void alias(int copy, int original);
// Back to the kernel path: epoll sets are told first, then the eventfd closes.
void release(int fd);
// close() as libxlane.so does it: release if accelerated, drop every record, close.
void close_socket(int fd);
// close() of any other fd (an epoll fd, say) as libxlane.so does it.
void close_fd(int fd);

// `count` datagrams arrive in user space (eventfd written on empty -> non-empty).
void deliver(int fd, size_t count = 1);
// One datagram read by the program; false when the queue was empty. The
// eventfd is drained when the queue becomes empty.
bool consume(int fd);
size_t queued(int fd);

// A fake accelerated TCP socket (a real, unconnected kernel TCP socket for
// the fd) whose engine poll mask is `mask`; its eventfd is readable while the
// mask holds anything.
int stream_socket(short mask);
void set_stream_mask(int fd, short mask);
void close_stream(int fd);
// XLANE_POLL_OS_RATIO of the fake (0 by default: every call asks the kernel).
void set_poll_os_ratio(unsigned ratio);

// XLANE_SPIN_US of the fake (0 by default).
void set_spin_us(unsigned us);
// XLANE_SPIN_US with XLANE_SPIN_KERNEL=1 (0: off, the default).
void set_kernel_spin_us(unsigned us);
// Threads inside a fast-path spin now (fast_path_rx_spin_begin/end balance: 0 between calls).
int rx_spinners();
// The `calls`-th fast_path_poll_once() from now delivers one datagram to `fd`.
void deliver_on_poll_once(int fd, unsigned calls);
unsigned poll_once_calls();

// What the multiplexers counted for `fd` through fast_socket_polled() since
// the last reset_poll_counts().
unsigned poll_hits(int fd);
unsigned poll_misses(int fd);
void reset_poll_counts();

}  // namespace xlane::test
