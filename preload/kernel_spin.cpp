#include "kernel_spin.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>

#include "fast_path.h"
#include "libc_table.h"
#include "readiness_support.h"
#include "socket_table.h"

namespace xlane::preload {

namespace libc = xlane::preload::libc;

namespace {

constexpr timespec kZero{0, 0};

// Runs `round(mask)`, a zero-timeout kernel call under the call's signal
// mask, until it reports something (> 0, or -1 with errno) or the spin
// (XLANE_SPIN_US, within the call's timeout) is over.
template <typename Round>
int spin(const timespec* timeout, const sigset_t* call_mask, Round&& round) {
    const unsigned spin_us = kernel_spin_us();
    if (spin_us == 0 || inside_engine()) return kSpinGaveUp;
    const Deadline deadline = timeout != nullptr ? Deadline::after(*timeout) : Deadline::never();
    if (deadline.immediate()) return kSpinGaveUp;  // a look, not a wait: nothing to save
    const Deadline spin_end = deadline.capped_us(spin_us);
    DeferredSpinSignals signals(call_mask);
    SpinYield yield;
    do {
        // Once signals are held, each round applies the call's mask: a
        // pending signal is delivered inside it and reported (EINTR).
        (void)signals.pending();
        const int got = round(signals.sleep_mask());
        if (got != 0) return got;
    } while (!spin_end.passed() && !yield.cpu_wanted());
    return kSpinGaveUp;
}

bool kernel_served_socket(int fd) {
    const auto entry = g_sockets.find(fd);
    if (!entry || (entry->family != AF_INET && entry->family != AF_INET6)) return false;
    int event_fd = -1;
    return !fast_socket_event_fd(fd, &event_fd) && !fast_stream_socket(fd);
}

// SO_RCVTIMEO of `fd` (zero: none).
timespec receive_timeout(int fd) {
    timeval timeout{};
    socklen_t len = sizeof(timeout);
    if (libc::getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, &len) != 0) return kZero;
    return timespec{timeout.tv_sec, timeout.tv_usec * 1000L};
}

bool is_zero(const timespec& t) {
    return t.tv_sec == 0 && t.tv_nsec == 0;
}

}  // namespace

bool spin_before_kernel_receive(int fd, int flags) {
    if ((flags & MSG_DONTWAIT) != 0 || kernel_spin_us() == 0 || !kernel_served_socket(fd))
        return true;
    const int saved = errno;
    pollfd readable{fd, POLLIN, 0};
    // Something to read already (the common case of a busy socket): one look.
    if (libc::ppoll(&readable, 1, &kZero, nullptr) != 0) {
        errno = saved;
        return true;
    }
    const int status = libc::fcntl(fd, F_GETFL);
    if (status < 0 || (status & O_NONBLOCK) != 0) {
        errno = saved;
        return true;
    }
    // The spin stays within SO_RCVTIMEO; the kernel's wait then has the
    // whole timeout again (at most the spin time late).
    const timespec timeout = receive_timeout(fd);
    const int got = spin(is_zero(timeout) ? nullptr : &timeout, nullptr, [&](const sigset_t* mask) {
        return libc::ppoll(&readable, 1, &kZero, mask);
    });
    const bool interrupted = got == -1 && errno == EINTR;
    errno = saved;
    // A handler ran during the spin: the kernel's wait would have restarted
    // (the call then waits in the kernel now) or failed with EINTR.
    if (!interrupted || (is_zero(timeout) && signal_handlers_restart())) return true;
    errno = EINTR;
    return false;
}

int spin_kernel_poll(pollfd* fds, nfds_t nfds, const timespec* timeout, const sigset_t* mask) {
    if (nfds == 0) return kSpinGaveUp;  // a plain sleep
    return spin(timeout, mask,
                [&](const sigset_t* m) { return libc::ppoll(fds, nfds, &kZero, m); });
}

int spin_kernel_select(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
                       const timespec* timeout, const sigset_t* mask, timespec* left) {
    // Beyond FD_SETSIZE the sets are the program's own larger arrays: not
    // copied here, the kernel's call serves them.
    if (nfds <= 0 || nfds > FD_SETSIZE) return kSpinGaveUp;
    const Deadline deadline = timeout != nullptr ? Deadline::after(*timeout) : Deadline::never();
    const int got = spin(timeout, mask, [&](const sigset_t* m) {
        // Each round on copies: a round that finds nothing clears them.
        fd_set r{}, w{}, e{};
        if (readfds != nullptr) r = *readfds;
        if (writefds != nullptr) w = *writefds;
        if (exceptfds != nullptr) e = *exceptfds;
        const int ready = libc::pselect(nfds, readfds != nullptr ? &r : nullptr,
                                        writefds != nullptr ? &w : nullptr,
                                        exceptfds != nullptr ? &e : nullptr, &kZero, m);
        if (ready > 0) {
            if (readfds != nullptr) *readfds = r;
            if (writefds != nullptr) *writefds = w;
            if (exceptfds != nullptr) *exceptfds = e;
        }
        return ready;
    });
    if (got != kSpinGaveUp && left != nullptr && timeout != nullptr) {
        const int saved = errno;
        *left = deadline.remaining();
        errno = saved;
    }
    return got;
}

int spin_kernel_epoll(int epfd, epoll_event* events, int maxevents, const timespec* timeout,
                      const sigset_t* mask) {
    if (maxevents <= 0) return kSpinGaveUp;  // EINVAL: the call's own
    return spin(timeout, mask, [&](const sigset_t* m) {
        return libc::epoll_pwait(epfd, events, maxevents, 0, m);
    });
}

}  // namespace xlane::preload
