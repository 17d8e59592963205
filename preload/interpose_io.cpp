// Interposed data-transfer calls, _FORTIFY_SOURCE variants included. This is
// where the fast path will serve accelerated sockets; every socket is on the
// kernel path today, so each call goes straight to libc (the _chk variants to
// libc's _chk, which keeps its buffer-overflow check and abort message).
#include "interpose.h"
#include "libc_table.h"

namespace libc = xlane::preload::libc;

XLANE_INTERPOSE ssize_t read(int fd, void* buf, size_t len) {
    return libc::read(fd, buf, len);
}

XLANE_INTERPOSE ssize_t __read_chk(int fd, void* buf, size_t len, size_t buflen) {
    return libc::read_chk(fd, buf, len, buflen);
}

XLANE_INTERPOSE ssize_t readv(int fd, const iovec* iov, int count) {
    return libc::readv(fd, iov, count);
}

XLANE_INTERPOSE ssize_t recv(int fd, void* buf, size_t len, int flags) {
    return libc::recv(fd, buf, len, flags);
}

XLANE_INTERPOSE ssize_t __recv_chk(int fd, void* buf, size_t len, size_t buflen, int flags) {
    return libc::recv_chk(fd, buf, len, buflen, flags);
}

XLANE_INTERPOSE ssize_t recvfrom(int fd, void* buf, size_t len, int flags, sockaddr* addr,
                                 socklen_t* addrlen) {
    return libc::recvfrom(fd, buf, len, flags, addr, addrlen);
}

XLANE_INTERPOSE ssize_t __recvfrom_chk(int fd, void* buf, size_t len, size_t buflen, int flags,
                                       sockaddr* addr, socklen_t* addrlen) {
    return libc::recvfrom_chk(fd, buf, len, buflen, flags, addr, addrlen);
}

XLANE_INTERPOSE ssize_t recvmsg(int fd, msghdr* msg, int flags) {
    return libc::recvmsg(fd, msg, flags);
}

XLANE_INTERPOSE int recvmmsg(int fd, mmsghdr* msgs, unsigned count, int flags, timespec* timeout) {
    return libc::recvmmsg(fd, msgs, count, flags, timeout);
}

XLANE_INTERPOSE ssize_t write(int fd, const void* buf, size_t len) {
    return libc::write(fd, buf, len);
}

XLANE_INTERPOSE ssize_t writev(int fd, const iovec* iov, int count) {
    return libc::writev(fd, iov, count);
}

XLANE_INTERPOSE ssize_t send(int fd, const void* buf, size_t len, int flags) {
    return libc::send(fd, buf, len, flags);
}

XLANE_INTERPOSE ssize_t sendto(int fd, const void* buf, size_t len, int flags, const sockaddr* addr,
                               socklen_t addrlen) {
    return libc::sendto(fd, buf, len, flags, addr, addrlen);
}

XLANE_INTERPOSE ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
    return libc::sendmsg(fd, msg, flags);
}

XLANE_INTERPOSE int sendmmsg(int fd, mmsghdr* msgs, unsigned count, int flags) {
    return libc::sendmmsg(fd, msgs, count, flags);
}

XLANE_INTERPOSE ssize_t sendfile(int out_fd, int in_fd, off_t* offset, size_t count) noexcept {
    return libc::sendfile(out_fd, in_fd, offset, count);
}

XLANE_INTERPOSE ssize_t sendfile64(int out_fd, int in_fd, off_t* offset, size_t count) noexcept {
    return libc::sendfile64(out_fd, in_fd, offset, count);
}
