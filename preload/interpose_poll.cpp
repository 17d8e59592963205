// Interposed poll, ppoll, select and pselect (and their _chk forms). Without
// an accelerated fd among the arguments each goes straight to libc after one
// socket-table lookup per fd (and the XLANE_SPIN_KERNEL spin, when on); with
// one, readiness_poll.cpp waits on the fds and on the eventfds that carry the
// accelerated sockets' POLLIN.
#include <cerrno>

#include "interpose.h"
#include "kernel_spin.h"
#include "libc_table.h"
#include "readiness_poll.h"

namespace libc = xlane::preload::libc;
using xlane::preload::kNoAcceleratedFd;
using xlane::preload::kSpinGaveUp;

extern "C" [[noreturn]] void __chk_fail();

namespace {

constexpr long kNanosPerSecond = 1000000000L;

bool valid(const timespec& t) {
    return t.tv_sec >= 0 && t.tv_nsec >= 0 && t.tv_nsec < kNanosPerSecond;
}

// With no accelerated fd, the XLANE_SPIN_KERNEL spin; kNoAcceleratedFd when
// the caller is to make the kernel call itself.
int poll_or_spin(pollfd* fds, nfds_t nfds, const timespec* timeout, const sigset_t* sigmask) {
    const int ret = xlane::preload::poll_mixed(fds, nfds, timeout, sigmask);
    if (ret != kNoAcceleratedFd) return ret;
    const int spun = xlane::preload::spin_kernel_poll(fds, nfds, timeout, sigmask);
    return spun != kSpinGaveUp ? spun : kNoAcceleratedFd;
}

int poll_timeout_ms(pollfd* fds, nfds_t nfds, int timeout_ms) {
    if (timeout_ms < 0) return poll_or_spin(fds, nfds, nullptr, nullptr);
    const timespec t{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
    return poll_or_spin(fds, nfds, &t, nullptr);
}

// An invalid timeout is the kernel's EINVAL: the pass-through reports it.
int ppoll_mixed(pollfd* fds, nfds_t nfds, const timespec* timeout, const sigset_t* sigmask) {
    if (timeout != nullptr && !valid(*timeout)) return kNoAcceleratedFd;
    return poll_or_spin(fds, nfds, timeout, sigmask);
}

int select_or_spin(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
                   const timespec* timeout, const sigset_t* sigmask, timespec* left) {
    const int ret =
        xlane::preload::select_mixed(nfds, readfds, writefds, exceptfds, timeout, sigmask, left);
    if (ret != kNoAcceleratedFd) return ret;
    const int spun = xlane::preload::spin_kernel_select(nfds, readfds, writefds, exceptfds, timeout,
                                                        sigmask, left);
    return spun != kSpinGaveUp ? spun : kNoAcceleratedFd;
}

}  // namespace

XLANE_INTERPOSE int poll(pollfd* fds, nfds_t nfds, int timeout) {
    const int ret = poll_timeout_ms(fds, nfds, timeout);
    return ret != kNoAcceleratedFd ? ret : libc::poll(fds, nfds, timeout);
}

XLANE_INTERPOSE int __poll_chk(pollfd* fds, nfds_t nfds, int timeout, size_t fdslen) {
    if (fdslen / sizeof(pollfd) < nfds) __chk_fail();
    const int ret = poll_timeout_ms(fds, nfds, timeout);
    return ret != kNoAcceleratedFd ? ret : libc::poll_chk(fds, nfds, timeout, fdslen);
}

XLANE_INTERPOSE int ppoll(pollfd* fds, nfds_t nfds, const timespec* timeout,
                          const sigset_t* sigmask) {
    const int ret = ppoll_mixed(fds, nfds, timeout, sigmask);
    return ret != kNoAcceleratedFd ? ret : libc::ppoll(fds, nfds, timeout, sigmask);
}

XLANE_INTERPOSE int __ppoll_chk(pollfd* fds, nfds_t nfds, const timespec* timeout,
                                const sigset_t* sigmask, size_t fdslen) {
    if (fdslen / sizeof(pollfd) < nfds) __chk_fail();
    const int ret = ppoll_mixed(fds, nfds, timeout, sigmask);
    return ret != kNoAcceleratedFd ? ret : libc::ppoll_chk(fds, nfds, timeout, sigmask, fdslen);
}

XLANE_INTERPOSE int select(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
                           timeval* timeout) {
    timespec converted{};
    if (timeout != nullptr) {
        // Linux normalises tv_usec >= 10^6 and refuses negatives (libc says EINVAL).
        if (timeout->tv_sec < 0 || timeout->tv_usec < 0)
            return libc::select(nfds, readfds, writefds, exceptfds, timeout);
        converted = timespec{timeout->tv_sec + timeout->tv_usec / 1000000,
                             (timeout->tv_usec % 1000000) * 1000L};
    }
    timespec left{};
    const int ret = select_or_spin(nfds, readfds, writefds, exceptfds,
                                   timeout != nullptr ? &converted : nullptr, nullptr,
                                   timeout != nullptr ? &left : nullptr);
    if (ret == kNoAcceleratedFd) return libc::select(nfds, readfds, writefds, exceptfds, timeout);
    if (timeout != nullptr && (ret >= 0 || errno == EINTR)) {
        // Linux select() reports the time left, and programs rely on it.
        timeout->tv_sec = left.tv_sec;
        timeout->tv_usec = left.tv_nsec / 1000;
    }
    return ret;
}

XLANE_INTERPOSE int pselect(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
                            const timespec* timeout, const sigset_t* sigmask) {
    int ret = kNoAcceleratedFd;
    if (timeout == nullptr || valid(*timeout))
        ret = select_or_spin(nfds, readfds, writefds, exceptfds, timeout, sigmask, nullptr);
    return ret != kNoAcceleratedFd
               ? ret
               : libc::pselect(nfds, readfds, writefds, exceptfds, timeout, sigmask);
}
