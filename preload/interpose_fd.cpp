// Interposed calls that change what an fd number names (close, dup*, fcntl
// F_DUPFD*) keep the socket table and the fast path's table in step (the last
// fd of an engine socket closes it before the kernel close); fcntl(F_SETFL)
// and ioctl(FIONBIO) keep its O_NONBLOCK, ioctl(FIONREAD) asks its queue.
#include <fcntl.h>
#include <sys/ioctl.h>

#include <cstdarg>
#include <cstdint>

#include "fast_path.h"
#include "fast_tcp.h"
#include "fast_udp.h"
#include "interpose.h"
#include "libc_table.h"
#include "receive_look.h"
#include "socket_table.h"
#include "stats_hooks.h"

using xlane::preload::g_sockets;
namespace fast = xlane::preload::fast;
namespace libc = xlane::preload::libc;
namespace stats_hooks = xlane::preload::stats_hooks;

namespace {

// F_DUPFD and F_DUPFD_CLOEXEC create a new name for the socket; F_SETFL may
// change O_NONBLOCK, which the fast path keeps so that no receive asks.
int after_fcntl(int fd, int cmd, void* arg, int ret) {
    if (ret == 0 && cmd == F_SETFL) xlane::preload::forget_receive_looks();
    if (ret >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) {
        g_sockets.copy(fd, ret);
        if (fast::serves(fd)) fast::after_dup(fd, ret);
        stats_hooks::duplicated(fd, ret);
    } else if (ret == 0 && cmd == F_SETFL && fast::serves(fd)) {
        fast::after_set_nonblocking(fd, (reinterpret_cast<intptr_t>(arg) & O_NONBLOCK) != 0);
    }
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
    if (fast::serves(fd)) fast::before_close(fd);
    xlane::preload::epoll_on_fd_closed(fd);
    // Before and after: a look decided during the close must not outlive it
    // on the fd number's next file.
    const bool tcp = xlane::preload::forget_receive_looks_of(fd);
    g_sockets.forget(fd);
    stats_hooks::closed(fd);
    const int ret = libc::close(fd);
    if (tcp) xlane::preload::forget_receive_looks();
    return ret;
}

// Forgetting before the call, as close() does: if the call then fails, a socket
// merely loses its entry (it stays on the kernel path); the other order could
// leave an entry naming whatever file reuses the number.
XLANE_INTERPOSE int close_range(unsigned first, unsigned last, int flags) noexcept {
    // CLOSE_RANGE_CLOEXEC only marks the fds close-on-exec; it closes nothing.
    if ((flags & CLOSE_RANGE_CLOEXEC) == 0 && first <= last) {
        fast::before_close_range(first, last);
        xlane::preload::epoll_on_fd_range_closed(first, last);
        xlane::preload::forget_receive_looks();
        g_sockets.forget_range(first, last);
        stats_hooks::closed_range(first, last);
    }
    const int ret = libc::close_range(first, last, flags);
    if ((flags & CLOSE_RANGE_CLOEXEC) == 0) xlane::preload::forget_receive_looks();  // as close()
    return ret;
}

XLANE_INTERPOSE void closefrom(int lowfd) noexcept {
    if (lowfd >= 0) {
        fast::before_close_range(static_cast<unsigned>(lowfd), ~0U);
        xlane::preload::epoll_on_fd_range_closed(static_cast<unsigned>(lowfd), ~0U);
        xlane::preload::forget_receive_looks();
        g_sockets.forget_range(static_cast<unsigned>(lowfd), ~0U);
        stats_hooks::closed_range(static_cast<unsigned>(lowfd), ~0U);
    }
    libc::closefrom(lowfd);
    xlane::preload::forget_receive_looks();  // as close()
}

XLANE_INTERPOSE int dup(int fd) noexcept {
    const int copy = libc::dup(fd);
    if (copy >= 0) {
        g_sockets.copy(fd, copy);
        if (fast::serves(fd)) fast::after_dup(fd, copy);
        stats_hooks::duplicated(fd, copy);
    }
    return copy;
}

XLANE_INTERPOSE int dup2(int from, int to) noexcept {
    // The kernel closes what `to` names: its engine socket goes first.
    if (from != to && fast::serves(to)) fast::before_dup_onto(from, to);
    bool replaced_tcp = false;
    if (from != to) {
        xlane::preload::epoll_on_fd_closed(to);
        replaced_tcp = xlane::preload::forget_receive_looks_of(to);
    }
    const int ret = libc::dup2(from, to);
    if (replaced_tcp) xlane::preload::forget_receive_looks();  // as close() does
    if (ret >= 0) {
        g_sockets.copy(from, ret);
        if (fast::serves(from)) fast::after_dup(from, ret);
        stats_hooks::duplicated(from, ret);
    }
    return ret;
}

XLANE_INTERPOSE int dup3(int from, int to, int flags) noexcept {
    if (from != to && fast::serves(to)) fast::before_dup_onto(from, to);
    bool replaced_tcp = false;
    if (from != to) {
        xlane::preload::epoll_on_fd_closed(to);
        replaced_tcp = xlane::preload::forget_receive_looks_of(to);
    }
    const int ret = libc::dup3(from, to, flags);
    if (replaced_tcp) xlane::preload::forget_receive_looks();  // as close() does
    if (ret >= 0) {
        g_sockets.copy(from, ret);
        if (fast::serves(from)) fast::after_dup(from, ret);
        stats_hooks::duplicated(from, ret);
    }
    return ret;
}

XLANE_INTERPOSE int fcntl(int fd, int cmd, ...) {
    va_list args;
    va_start(args, cmd);
    void* arg = one_vararg(args);
    va_end(args);
    return after_fcntl(fd, cmd, arg, libc::fcntl(fd, cmd, arg));
}

XLANE_INTERPOSE int fcntl64(int fd, int cmd, ...) {
    va_list args;
    va_start(args, cmd);
    void* arg = one_vararg(args);
    va_end(args);
    return after_fcntl(fd, cmd, arg, libc::fcntl64(fd, cmd, arg));
}

XLANE_INTERPOSE int ioctl(int fd, unsigned long request, ...) noexcept {
    va_list args;
    va_start(args, request);
    void* arg = one_vararg(args);
    va_end(args);
    if (!fast::serves(fd)) {
        const int ret = libc::ioctl(fd, request, arg);
        // After the change, so that no thread decides on the old mode meanwhile.
        if (request == FIONBIO) xlane::preload::forget_receive_looks();
        return ret;
    }
    int ret = 0;
    if (fast::tcp::serves(fd)) {
        if (fast::tcp::ioctl(fd, request, arg, &ret)) return ret;
        ret = libc::ioctl(fd, request, arg);
        if (ret == 0 && request == FIONBIO && arg != nullptr)
            fast::after_set_nonblocking(fd, *static_cast<const int*>(arg) != 0);
        return ret;
    }
    if (fast::ioctl(fd, request, arg, &ret)) return ret;
    ret = libc::ioctl(fd, request, arg);
    if (ret == 0 && request == FIONBIO && arg != nullptr)
        fast::after_set_nonblocking(fd, *static_cast<const int*>(arg) != 0);
    return ret;
}
