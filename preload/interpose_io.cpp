// Interposed data-transfer calls, _FORTIFY_SOURCE variants included. Sockets
// the UDP fast path serves (and UDP sockets sending for the first time, which
// it may adopt) go to fast_udp; every other fd goes straight to libc (the _chk
// variants to libc's _chk, which keeps its buffer-overflow check and abort
// message). The fast path sees every call as sendmsg/recvmsg. sendfile into a
// fast TCP socket is read from the file and sent through the engine here.
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <new>

#include "fast_tcp.h"
#include "fast_udp.h"
#include "interpose.h"
#include "kernel_spin.h"
#include "libc_table.h"
#include "receive_look.h"
#include "spurious_eagain.h"
#include "stats_hooks.h"

namespace fast = xlane::preload::fast;
namespace libc = xlane::preload::libc;
namespace stats_hooks = xlane::preload::stats_hooks;
using xlane::preload::retry_spurious_eagain;

namespace {

msghdr message(void* name, socklen_t namelen, iovec* iov, size_t count) {
    msghdr msg{};
    msg.msg_name = name;
    msg.msg_namelen = namelen;
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    return msg;
}

// recv/recvfrom/read through the fast path; false when it does not serve fd.
bool fast_recv(int fd, void* buf, size_t len, int flags, sockaddr* addr, socklen_t* addrlen,
               ssize_t* ret) {
    if (!fast::serves(fd)) return false;
    iovec iov{buf, len};
    msghdr msg = message(addr, addr != nullptr && addrlen != nullptr ? *addrlen : 0, &iov, 1);
    if (!fast::recvmsg(fd, &msg, flags, ret)) return false;
    if (*ret >= 0 && addr != nullptr && addrlen != nullptr) *addrlen = msg.msg_namelen;
    return true;
}

bool fast_send(int fd, const void* buf, size_t len, int flags, const sockaddr* addr,
               socklen_t addrlen, ssize_t* ret) {
    if (!fast::may_serve(fd)) return false;
    iovec iov{const_cast<void*>(buf), len};
    msghdr msg = message(const_cast<sockaddr*>(addr), addr != nullptr ? addrlen : 0, &iov, 1);
    return fast::sendmsg(fd, &msg, flags, ret);
}

// A receive the kernel serves: after the XLANE_SPIN_KERNEL spin (when on),
// answered EAGAIN by a lockless look when it spins on an empty loopback-path
// socket (receive_look.h), and retried past loopback's spurious EAGAIN. -1/EINTR
// when a signal handler ran during the spin and the call would not have been
// restarted.
template <typename Call>
ssize_t kernel_receive(int fd, int flags, Call&& call) {
    if (!xlane::preload::spin_before_kernel_receive(fd, flags)) return -1;
    if (xlane::preload::receive_found_empty_without_lock(fd, flags)) return -1;
    const ssize_t ret = retry_spurious_eagain(fd, flags, call);
    xlane::preload::note_kernel_receive(fd, ret);
    return ret;
}

}  // namespace

XLANE_INTERPOSE ssize_t read(int fd, void* buf, size_t len) {
    ssize_t ret = 0;
    if (!(fast_recv(fd, buf, len, 0, nullptr, nullptr, &ret)))
        ret = kernel_receive(fd, 0, [&] { return libc::read(fd, buf, len); });
    stats_hooks::received(fd, ret);
    return ret;
}

XLANE_INTERPOSE ssize_t __read_chk(int fd, void* buf, size_t len, size_t buflen) {
    ssize_t ret = 0;
    if (!(len <= buflen && fast_recv(fd, buf, len, 0, nullptr, nullptr, &ret)))
        ret = kernel_receive(fd, 0, [&] { return libc::read_chk(fd, buf, len, buflen); });
    stats_hooks::received(fd, ret);
    return ret;
}

XLANE_INTERPOSE ssize_t readv(int fd, const iovec* iov, int count) {
    ssize_t ret = 0;
    bool served = false;
    if (fast::serves(fd) && count >= 0) {
        msghdr msg = message(nullptr, 0, const_cast<iovec*>(iov), static_cast<size_t>(count));
        served = fast::recvmsg(fd, &msg, 0, &ret);
    }
    if (!served) ret = kernel_receive(fd, 0, [&] { return libc::readv(fd, iov, count); });
    stats_hooks::received(fd, ret);
    return ret;
}

XLANE_INTERPOSE ssize_t recv(int fd, void* buf, size_t len, int flags) {
    ssize_t ret = 0;
    if (!(fast_recv(fd, buf, len, flags, nullptr, nullptr, &ret)))
        ret = kernel_receive(fd, flags, [&] { return libc::recv(fd, buf, len, flags); });
    stats_hooks::received(fd, ret);
    return ret;
}

XLANE_INTERPOSE ssize_t __recv_chk(int fd, void* buf, size_t len, size_t buflen, int flags) {
    ssize_t ret = 0;
    if (!(len <= buflen && fast_recv(fd, buf, len, flags, nullptr, nullptr, &ret)))
        ret =
            kernel_receive(fd, flags, [&] { return libc::recv_chk(fd, buf, len, buflen, flags); });
    stats_hooks::received(fd, ret);
    return ret;
}

XLANE_INTERPOSE ssize_t recvfrom(int fd, void* buf, size_t len, int flags, sockaddr* addr,
                                 socklen_t* addrlen) {
    ssize_t ret = 0;
    if (!(fast_recv(fd, buf, len, flags, addr, addrlen, &ret)))
        ret = kernel_receive(fd, flags,
                             [&] { return libc::recvfrom(fd, buf, len, flags, addr, addrlen); });
    stats_hooks::received(fd, ret);
    return ret;
}

XLANE_INTERPOSE ssize_t __recvfrom_chk(int fd, void* buf, size_t len, size_t buflen, int flags,
                                       sockaddr* addr, socklen_t* addrlen) {
    ssize_t ret = 0;
    if (!(len <= buflen && fast_recv(fd, buf, len, flags, addr, addrlen, &ret)))
        ret = kernel_receive(fd, flags, [&] {
            return libc::recvfrom_chk(fd, buf, len, buflen, flags, addr, addrlen);
        });
    stats_hooks::received(fd, ret);
    return ret;
}

XLANE_INTERPOSE ssize_t recvmsg(int fd, msghdr* msg, int flags) {
    ssize_t ret = 0;
    if (!(fast::serves(fd) && fast::recvmsg(fd, msg, flags, &ret)))
        ret = kernel_receive(fd, flags, [&] { return libc::recvmsg(fd, msg, flags); });
    stats_hooks::received(fd, ret);
    return ret;
}

XLANE_INTERPOSE int recvmmsg(int fd, mmsghdr* msgs, unsigned count, int flags, timespec* timeout) {
    int ret = 0;
    if (!(fast::serves(fd) && fast::recvmmsg(fd, msgs, count, flags, timeout, &ret)))
        ret = xlane::preload::spin_before_kernel_receive(fd, flags)
                  ? libc::recvmmsg(fd, msgs, count, flags, timeout)
                  : -1;
    stats_hooks::received_many(fd, ret, msgs);
    return ret;
}

XLANE_INTERPOSE ssize_t write(int fd, const void* buf, size_t len) {
    ssize_t ret = 0;
    if (!(fast::serves(fd) && fast_send(fd, buf, len, 0, nullptr, 0, &ret)))
        ret = libc::write(fd, buf, len);
    stats_hooks::sent(fd, ret);
    return ret;
}

XLANE_INTERPOSE ssize_t writev(int fd, const iovec* iov, int count) {
    ssize_t ret = 0;
    bool served = false;
    if (fast::serves(fd) && count >= 0) {
        msghdr msg = message(nullptr, 0, const_cast<iovec*>(iov), static_cast<size_t>(count));
        served = fast::sendmsg(fd, &msg, 0, &ret);
    }
    if (!served) ret = libc::writev(fd, iov, count);
    stats_hooks::sent(fd, ret);
    return ret;
}

XLANE_INTERPOSE ssize_t send(int fd, const void* buf, size_t len, int flags) {
    ssize_t ret = 0;
    if (!(fast_send(fd, buf, len, flags, nullptr, 0, &ret))) ret = libc::send(fd, buf, len, flags);
    stats_hooks::sent(fd, ret);
    return ret;
}

XLANE_INTERPOSE ssize_t sendto(int fd, const void* buf, size_t len, int flags, const sockaddr* addr,
                               socklen_t addrlen) {
    ssize_t ret = 0;
    if (!(fast_send(fd, buf, len, flags, addr, addrlen, &ret)))
        ret = libc::sendto(fd, buf, len, flags, addr, addrlen);
    stats_hooks::sent(fd, ret);
    return ret;
}

XLANE_INTERPOSE ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
    ssize_t ret = 0;
    if (!(fast::may_serve(fd) && fast::sendmsg(fd, msg, flags, &ret)))
        ret = libc::sendmsg(fd, msg, flags);
    stats_hooks::sent(fd, ret);
    return ret;
}

XLANE_INTERPOSE int sendmmsg(int fd, mmsghdr* msgs, unsigned count, int flags) {
    int ret = 0;
    if (!(fast::may_serve(fd) && fast::sendmmsg(fd, msgs, count, flags, &ret)))
        ret = libc::sendmmsg(fd, msgs, count, flags);
    stats_hooks::sent_many(fd, ret, msgs);
    return ret;
}

namespace {

// The most one sendfile() moves, as Linux (MAX_RW_COUNT).
constexpr size_t kSendfileMax = 0x7ffff000;
// Bytes read from the file per fast send: a few dozen segments, and one
// buffer per thread that calls sendfile into a fast TCP socket.
constexpr size_t kSendfileChunk = 128 * 1024;

// sendfile() into a TCP socket the fast path serves. The kernel's sendfile
// would write into the shadow socket, which the fast path never connects
// (the connection lives in the engine), and fail: nginx's static files
// stopped after the headers. So the file is read here (pread at *offset, or
// at the file position, which then moves past what was sent, as sendfile
// moves it) and sent through the fast path, with sendfile's results: the
// bytes sent, short when the socket takes no more (non-blocking) or a signal
// interrupts, and an error only when nothing was sent. A file without a
// position (a pipe) gets EINVAL, as the kernel's sendfile gives for an
// in_fd it cannot read at an offset.
ssize_t fast_tcp_sendfile(int out_fd, int in_fd, off_t* offset, size_t count) {
    thread_local std::unique_ptr<char[]> chunk;
    off_t position = 0;
    if (offset != nullptr) {
        position = *offset;
    } else {
        position = ::lseek(in_fd, 0, SEEK_CUR);
        if (position < 0) {
            if (errno == ESPIPE) errno = EINVAL;
            return -1;
        }
    }
    if (position < 0) {
        errno = EINVAL;
        return -1;
    }
    if (chunk == nullptr) chunk.reset(new (std::nothrow) char[kSendfileChunk]);
    if (chunk == nullptr) {
        errno = ENOMEM;
        return -1;
    }
    count = std::min(count, kSendfileMax);
    size_t total = 0;
    int error = 0;
    while (total < count) {
        const ssize_t got = ::pread(in_fd, chunk.get(), std::min(kSendfileChunk, count - total),
                                    position + off_t(total));
        if (got <= 0) {  // end of file, or an error to report if nothing went
            if (got < 0) error = errno;
            break;
        }
        ssize_t sent = 0;
        if (!fast_send(out_fd, chunk.get(), size_t(got), 0, nullptr, 0, &sent))
            sent = libc::write(out_fd, chunk.get(), size_t(got));  // left the fast path meanwhile
        if (sent < 0) {
            error = errno;
            break;
        }
        total += size_t(sent);
        if (sent < got) break;  // the socket took no more now
    }
    if (total == 0 && error != 0) {
        errno = error;
        return -1;
    }
    if (offset != nullptr) {
        *offset = position + off_t(total);
    } else if (::lseek(in_fd, position + off_t(total), SEEK_SET) < 0) {
        return -1;
    }
    return ssize_t(total);
}

ssize_t any_sendfile(int out_fd, int in_fd, off_t* offset, size_t count) {
    ssize_t ret = 0;
    if (xlane::preload::fast::tcp::serves(out_fd)) {
        ret = fast_tcp_sendfile(out_fd, in_fd, offset, count);
        stats_hooks::sent(out_fd, ret);
    } else {
        // sendfile to a UDP socket is rare enough to leave with the kernel
        // socket (bound and connected like the fast one, so the datagram leaves).
        ret = libc::sendfile(out_fd, in_fd, offset, count);
    }
    return ret;
}

}  // namespace

XLANE_INTERPOSE ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count) noexcept {
    return any_sendfile(out_fd, in_fd, offset, count);
}

XLANE_INTERPOSE ssize_t sendfile64(int out_fd, int in_fd, off_t* offset, size_t count) noexcept {
    return any_sendfile(out_fd, in_fd, offset, count);
}
