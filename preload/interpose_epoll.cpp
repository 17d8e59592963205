// Interposed epoll calls. Sets that never held a UDP socket cost one table
// load per epoll_wait and go straight to libc; readiness_epoll.cpp keeps the
// rest (accelerated sockets' EPOLLIN from their eventfds, one event per fd).
#include "interpose.h"
#include "libc_table.h"
#include "readiness_epoll.h"

namespace libc = xlane::preload::libc;
using xlane::preload::KernelEpollWait;

namespace {

constexpr long kNanosPerSecond = 1000000000L;

struct WaitCall {
    int epfd;
    epoll_event* events;
    int maxevents;
    int timeout_ms;
    const timespec* timeout;
    const sigset_t* sigmask;
};

int call_epoll_wait(const void* context) {
    const auto& c = *static_cast<const WaitCall*>(context);
    return libc::epoll_wait(c.epfd, c.events, c.maxevents, c.timeout_ms);
}

int call_epoll_pwait(const void* context) {
    const auto& c = *static_cast<const WaitCall*>(context);
    return libc::epoll_pwait(c.epfd, c.events, c.maxevents, c.timeout_ms, c.sigmask);
}

int call_epoll_pwait2(const void* context) {
    const auto& c = *static_cast<const WaitCall*>(context);
    return libc::epoll_pwait2(c.epfd, c.events, c.maxevents, c.timeout, c.sigmask);
}

// Milliseconds as epoll_wait takes them: negative waits forever.
int wait_ms(const WaitCall& call, int (*kernel)(const void*)) {
    const KernelEpollWait pass_through{kernel, &call};
    if (call.timeout_ms < 0)
        return xlane::preload::epoll_wait_mixed(call.epfd, call.events, call.maxevents, nullptr,
                                                call.sigmask, pass_through);
    const timespec t{call.timeout_ms / 1000, (call.timeout_ms % 1000) * 1000000L};
    return xlane::preload::epoll_wait_mixed(call.epfd, call.events, call.maxevents, &t,
                                            call.sigmask, pass_through);
}

}  // namespace

XLANE_INTERPOSE int epoll_create(int size) noexcept {
    const int fd = libc::epoll_create(size);
    if (fd >= 0) xlane::preload::epoll_on_fd_reused(fd);
    return fd;
}

XLANE_INTERPOSE int epoll_create1(int flags) noexcept {
    const int fd = libc::epoll_create1(flags);
    if (fd >= 0) xlane::preload::epoll_on_fd_reused(fd);
    return fd;
}

XLANE_INTERPOSE int epoll_ctl(int epfd, int op, int fd, epoll_event* event) noexcept {
    return xlane::preload::epoll_ctl_mixed(epfd, op, fd, event);
}

XLANE_INTERPOSE int epoll_wait(int epfd, epoll_event* events, int maxevents, int timeout) {
    const WaitCall call{epfd, events, maxevents, timeout, nullptr, nullptr};
    return wait_ms(call, call_epoll_wait);
}

XLANE_INTERPOSE int epoll_pwait(int epfd, epoll_event* events, int maxevents, int timeout,
                                const sigset_t* sigmask) {
    const WaitCall call{epfd, events, maxevents, timeout, nullptr, sigmask};
    return wait_ms(call, call_epoll_pwait);
}

XLANE_INTERPOSE int epoll_pwait2(int epfd, epoll_event* events, int maxevents,
                                 const timespec* timeout, const sigset_t* sigmask) {
    const WaitCall call{epfd, events, maxevents, 0, timeout, sigmask};
    const KernelEpollWait pass_through{call_epoll_pwait2, &call};
    // An invalid timeout is the kernel's EINVAL: only its own call reports it.
    if (timeout != nullptr &&
        (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= kNanosPerSecond))
        return call_epoll_pwait2(&call);
    return xlane::preload::epoll_wait_mixed(epfd, events, maxevents, timeout, sigmask,
                                            pass_through);
}
