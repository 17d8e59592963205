// Interposed readiness calls. When sockets are served in user space their
// readiness will be signalled into the kernel (DESIGN.md), so these stay thin;
// today every fd is a kernel fd and each call goes straight to libc.
#include "interpose.h"
#include "libc_table.h"

namespace libc = xlane::preload::libc;

XLANE_INTERPOSE int poll(pollfd* fds, nfds_t nfds, int timeout) {
    return libc::poll(fds, nfds, timeout);
}

XLANE_INTERPOSE int __poll_chk(pollfd* fds, nfds_t nfds, int timeout, size_t fdslen) {
    return libc::poll_chk(fds, nfds, timeout, fdslen);
}

XLANE_INTERPOSE int ppoll(pollfd* fds, nfds_t nfds, const timespec* timeout,
                          const sigset_t* sigmask) {
    return libc::ppoll(fds, nfds, timeout, sigmask);
}

XLANE_INTERPOSE int __ppoll_chk(pollfd* fds, nfds_t nfds, const timespec* timeout,
                                const sigset_t* sigmask, size_t fdslen) {
    return libc::ppoll_chk(fds, nfds, timeout, sigmask, fdslen);
}

XLANE_INTERPOSE int select(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
                           timeval* timeout) {
    return libc::select(nfds, readfds, writefds, exceptfds, timeout);
}

XLANE_INTERPOSE int pselect(int nfds, fd_set* readfds, fd_set* writefds, fd_set* exceptfds,
                            const timespec* timeout, const sigset_t* sigmask) {
    return libc::pselect(nfds, readfds, writefds, exceptfds, timeout, sigmask);
}

XLANE_INTERPOSE int epoll_create(int size) noexcept {
    return libc::epoll_create(size);
}

XLANE_INTERPOSE int epoll_create1(int flags) noexcept {
    return libc::epoll_create1(flags);
}

XLANE_INTERPOSE int epoll_ctl(int epfd, int op, int fd, epoll_event* event) noexcept {
    return libc::epoll_ctl(epfd, op, fd, event);
}

XLANE_INTERPOSE int epoll_wait(int epfd, epoll_event* events, int maxevents, int timeout) {
    return libc::epoll_wait(epfd, events, maxevents, timeout);
}

XLANE_INTERPOSE int epoll_pwait(int epfd, epoll_event* events, int maxevents, int timeout,
                                const sigset_t* sigmask) {
    return libc::epoll_pwait(epfd, events, maxevents, timeout, sigmask);
}

XLANE_INTERPOSE int epoll_pwait2(int epfd, epoll_event* events, int maxevents,
                                 const timespec* timeout, const sigset_t* sigmask) {
    return libc::epoll_pwait2(epfd, events, maxevents, timeout, sigmask);
}
