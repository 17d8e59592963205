// poll/ppoll/select/pselect over any mix of accelerated and kernel fds: an
// accelerated fd's POLLIN is its eventfd's, everything else is the fd's own.
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/select.h>

#include "readiness_support.h"

namespace xlane::preload {

// The outcome of a readiness call that found no accelerated fd: the caller
// makes its own libc call instead, so programs without accelerated sockets pay
// one table lookup per fd and nothing else.
inline constexpr int kNoAcceleratedFd = -2;

// ppoll semantics (revents, count of fds with non-zero revents, POLLNVAL,
// EINTR, `sigmask` applied while waiting). `timeout` must be valid; nullptr
// waits forever. Returns kNoAcceleratedFd when no fd in `fds` is accelerated:
// then nothing was done, not even a clock read.
[[nodiscard]] int poll_mixed(pollfd* fds, nfds_t nfds, const timespec* timeout,
                             const sigset_t* sigmask);
// The same with the deadline already fixed (select's conversion uses it).
[[nodiscard]] int poll_mixed_until(pollfd* fds, nfds_t nfds, const Deadline& deadline,
                                   const sigset_t* sigmask);

// pselect semantics: fd_set results (bits above nfds within the last word
// cleared, as the kernel does), the count of set bits, EBADF for a closed fd.
// Returns kNoAcceleratedFd when no fd in the sets is accelerated. Sets of any
// size work (the kernel's limit is nfds <= RLIMIT_NOFILE, not FD_SETSIZE).
// When `left` is given (select), it receives the time that remained, on
// success and on EINTR, as Linux's select writes it back.
[[nodiscard]] int select_mixed(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
                               const timespec* timeout, const sigset_t* sigmask, timespec* left);

}  // namespace xlane::preload
