// The table of original C library functions that libxlane.so interposes: every
// wrapper reaches the kernel path through these, never through the plain name
// (which would resolve back to the wrapper itself).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "original.h"

// The _FORTIFY_SOURCE entry points glibc's headers only declare when fortifying;
// programs built with -D_FORTIFY_SOURCE call these instead of read/recv/poll.
extern "C" {
ssize_t __read_chk(int fd, void* buf, size_t nbytes, size_t buflen);
ssize_t __recv_chk(int fd, void* buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void* buf, size_t len, size_t buflen, int flags,
                       struct sockaddr* addr, socklen_t* addrlen);
int __poll_chk(struct pollfd* fds, nfds_t nfds, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd* fds, nfds_t nfds, const struct timespec* timeout,
                const sigset_t* sigmask, size_t fdslen);
// glibc's public alias of sigaction, which libxlane.so does not shadow: the
// fallback of the sigaction entry below.
int __sigaction(int sig, const struct sigaction* act, struct sigaction* oldact) __THROW;
}

namespace xlane::preload::libc {

// Socket lifecycle and options.
extern Original<decltype(::socket)> socket;
extern Original<decltype(::socketpair)> socketpair;
extern Original<decltype(::bind)> bind;
extern Original<decltype(::listen)> listen;
extern Original<decltype(::accept)> accept;
extern Original<decltype(::accept4)> accept4;
extern Original<decltype(::connect)> connect;
extern Original<decltype(::shutdown)> shutdown;
extern Original<decltype(::getsockopt)> getsockopt;
extern Original<decltype(::setsockopt)> setsockopt;
extern Original<decltype(::getsockname)> getsockname;
extern Original<decltype(::getpeername)> getpeername;

// Descriptor table changes.
extern Original<decltype(::close)> close;
extern Original<decltype(::close_range)> close_range;
extern Original<decltype(::closefrom)> closefrom;
extern Original<decltype(::dup)> dup;
extern Original<decltype(::dup2)> dup2;
extern Original<decltype(::dup3)> dup3;
extern Original<decltype(::fcntl)> fcntl;
extern Original<decltype(::fcntl)> fcntl64;  // same contract; the LFS name
extern Original<decltype(::ioctl)> ioctl;

// Data transfer.
extern Original<decltype(::read)> read;
extern Original<decltype(::__read_chk)> read_chk;
extern Original<decltype(::readv)> readv;
extern Original<decltype(::recv)> recv;
extern Original<decltype(::__recv_chk)> recv_chk;
extern Original<decltype(::recvfrom)> recvfrom;
extern Original<decltype(::__recvfrom_chk)> recvfrom_chk;
extern Original<decltype(::recvmsg)> recvmsg;
extern Original<decltype(::recvmmsg)> recvmmsg;
extern Original<decltype(::write)> write;
extern Original<decltype(::writev)> writev;
extern Original<decltype(::send)> send;
extern Original<decltype(::sendto)> sendto;
extern Original<decltype(::sendmsg)> sendmsg;
extern Original<decltype(::sendmmsg)> sendmmsg;
extern Original<decltype(::sendfile)> sendfile;
extern Original<decltype(::sendfile)> sendfile64;  // same contract; the LFS name
extern Original<decltype(::splice)> splice;

// Signal dispositions (interpose_signal.cpp). The next definitions, not
// glibc's directly: a sanitizer runtime loaded after this library intercepts
// them and must see every handler installed.
extern Original<decltype(::sigaction)> sigaction;
extern Original<decltype(::signal)> signal;

// Readiness.
extern Original<decltype(::poll)> poll;
extern Original<decltype(::__poll_chk)> poll_chk;
extern Original<decltype(::ppoll)> ppoll;
extern Original<decltype(::__ppoll_chk)> ppoll_chk;
extern Original<decltype(::select)> select;
extern Original<decltype(::pselect)> pselect;
extern Original<decltype(::epoll_create)> epoll_create;
extern Original<decltype(::epoll_create1)> epoll_create1;
extern Original<decltype(::epoll_ctl)> epoll_ctl;
extern Original<decltype(::epoll_wait)> epoll_wait;
extern Original<decltype(::epoll_pwait)> epoll_pwait;
extern Original<decltype(::epoll_pwait2)> epoll_pwait2;

}  // namespace xlane::preload::libc
