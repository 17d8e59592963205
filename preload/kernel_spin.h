// The optional spin of calls the kernel serves (XLANE_SPIN_KERNEL=1): a
// blocking receive on a socket of the kernel or loopback path, or a poll,
// select or epoll_wait without an offloaded socket, first asks the kernel
// without blocking, round after round, for XLANE_SPIN_US. A reply that comes
// meanwhile costs no wake-up (the scheduler's, several microseconds on
// virtual CPUs); the CPU stays busy instead. Offloaded sockets spin on their
// own (the fast path's wait), so nothing here touches them.
//
// Signals: the spin runs with every signal blocked, and each round's
// zero-timeout call applies the call's own mask atomically, so a signal is
// delivered inside a system call and reported as EINTR, exactly as during
// the sleep the spin stands in for (SpinSignals, readiness_support.h).
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>

namespace xlane::preload {

// Nothing became ready while spinning (or no spin applies): the caller makes
// its own kernel call, with its own timeout (which may then end up to the
// spin time late).
inline constexpr int kSpinGaveUp = -3;

// Before a receive call (`flags` as recv's; 0 for read) goes to the kernel:
// spins while `fd` is a blocking INET socket the kernel serves and has
// nothing to read. false: a signal handler ran during the spin and the call
// must fail with EINTR (errno is set), as the kernel's interrupted wait would
// have (signal(7): not restarted without SA_RESTART, nor with SO_RCVTIMEO).
[[nodiscard]] bool spin_before_kernel_receive(int fd, int flags);

// poll/ppoll, select/pselect and epoll_wait/epoll_pwait/epoll_pwait2 as
// zero-timeout rounds; `mask` is the call's signal mask (nullptr: the
// thread's). The result of the round that found something (EINTR included:
// these calls are never restarted), or kSpinGaveUp. select's sets are
// changed only by the round that returns; `left` (select only, may be
// nullptr) then holds the time left of `timeout`.
[[nodiscard]] int spin_kernel_poll(pollfd* fds, nfds_t nfds, const timespec* timeout,
                                   const sigset_t* mask);
[[nodiscard]] int spin_kernel_select(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
                                     const timespec* timeout, const sigset_t* mask, timespec* left);
[[nodiscard]] int spin_kernel_epoll(int epfd, epoll_event* events, int maxevents,
                                    const timespec* timeout, const sigset_t* mask);

}  // namespace xlane::preload
