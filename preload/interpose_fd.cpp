// Interposed calls that change what an fd number names (close, dup*, fcntl
// F_DUPFD*) keep the socket table in step; ioctl passes through.
#include <cstdarg>

#include "interpose.h"
#include "libc_table.h"
#include "socket_table.h"

using xlane::preload::g_sockets;
namespace libc = xlane::preload::libc;

namespace {

// F_DUPFD and F_DUPFD_CLOEXEC create a new name for the socket.
int after_fcntl(int fd, int cmd, int ret) {
    if (ret >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) g_sockets.copy(fd, ret);
    return ret;
}

// Every fcntl command takes no argument, an int or a pointer; like glibc we
// read one pointer-sized argument and pass it on unchanged.
void* one_vararg(va_list args) {
    return va_arg(args, void*);
}

}  // namespace

XLANE_INTERPOSE int close(int fd) {
    // Forget first: once the kernel frees the number another thread may get it.
    g_sockets.forget(fd);
    return libc::close(fd);
}

// Forgetting before the call, as close() does: if the call then fails, a socket
// merely loses its entry (it stays on the kernel path); the other order could
// leave an entry naming whatever file reuses the number.
XLANE_INTERPOSE int close_range(unsigned first, unsigned last, int flags) noexcept {
    // CLOSE_RANGE_CLOEXEC only marks the fds close-on-exec; it closes nothing.
    if ((flags & CLOSE_RANGE_CLOEXEC) == 0 && first <= last) g_sockets.forget_range(first, last);
    return libc::close_range(first, last, flags);
}

XLANE_INTERPOSE void closefrom(int lowfd) noexcept {
    if (lowfd >= 0) g_sockets.forget_range(static_cast<unsigned>(lowfd), ~0U);
    libc::closefrom(lowfd);
}

XLANE_INTERPOSE int dup(int fd) noexcept {
    const int copy = libc::dup(fd);
    if (copy >= 0) g_sockets.copy(fd, copy);
    return copy;
}

XLANE_INTERPOSE int dup2(int from, int to) noexcept {
    const int ret = libc::dup2(from, to);
    if (ret >= 0) g_sockets.copy(from, ret);
    return ret;
}

XLANE_INTERPOSE int dup3(int from, int to, int flags) noexcept {
    const int ret = libc::dup3(from, to, flags);
    if (ret >= 0) g_sockets.copy(from, ret);
    return ret;
}

XLANE_INTERPOSE int fcntl(int fd, int cmd, ...) {
    va_list args;
    va_start(args, cmd);
    void* arg = one_vararg(args);
    va_end(args);
    return after_fcntl(fd, cmd, libc::fcntl(fd, cmd, arg));
}

XLANE_INTERPOSE int fcntl64(int fd, int cmd, ...) {
    va_list args;
    va_start(args, cmd);
    void* arg = one_vararg(args);
    va_end(args);
    return after_fcntl(fd, cmd, libc::fcntl64(fd, cmd, arg));
}

XLANE_INTERPOSE int ioctl(int fd, unsigned long request, ...) noexcept {
    va_list args;
    va_start(args, request);
    void* arg = one_vararg(args);
    va_end(args);
    return libc::ioctl(fd, request, arg);
}
