// The epoll multiplexer: epoll sets holding accelerated UDP sockets report one
// event per socket, EPOLLIN from its eventfd and the rest from the socket.
//
// How an epoll set E holding an accelerated socket S is laid out in the kernel:
// E holds every kernel registration as the program made it, untouched, plus
// one hidden epoll set ("sub-set", level-triggered EPOLLIN, data = a random
// per-set cookie). The sub-set holds two registrations per accelerated socket,
// both tagged with a pointer to our record of the program's registration:
// S itself for everything but EPOLLIN, and S's eventfd for EPOLLIN, each with
// the program's EPOLLET/EPOLLONESHOT/EPOLLEXCLUSIVE/EPOLLWAKEUP. So E is
// readable exactly when the program's epoll_wait has something to report (also
// for poll(E) and for E nested in another epoll set), and epoll_wait(E) is a
// plain kernel call for sets that never held an accelerated socket.
// epoll_wait takes E's events, drops the cookie, and drains the sub-set into
// the remaining slots, merging the two halves into one event per socket.
#pragma once

#include <signal.h>
#include <sys/epoll.h>
#include <time.h>

namespace xlane::preload {

// epoll_ctl with kernel semantics for every fd. Non-UDP fds go straight to
// the kernel after a socket-table lookup.
int epoll_ctl_mixed(int epfd, int op, int fd, epoll_event* event);

// The kernel's own wait, as the interposed function received it (epoll_wait,
// epoll_pwait or epoll_pwait2); used while the set holds no accelerated fd.
struct KernelEpollWait {
    int (*call)(const void* context);
    const void* context;
};

// epoll_pwait2 semantics for a tracked set. `timeout` must be valid (nullptr:
// forever). `pass_through` is called when the set holds no accelerated fd.
int epoll_wait_mixed(int epfd, epoll_event* events, int maxevents, const timespec* timeout,
                     const sigset_t* sigmask, KernelEpollWait pass_through);

// A new epoll fd (epoll_create/epoll_create1): any record left for its number
// by an fd closed without our knowledge is dropped.
void epoll_on_fd_reused(int fd);

}  // namespace xlane::preload
