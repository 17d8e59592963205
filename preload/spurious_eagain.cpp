#include "spurious_eagain.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>

#include "libc_table.h"
#include "socket_table.h"

namespace xlane::preload {

bool spurious_eagain(int fd, int flags) {
    if (errno != EAGAIN || (flags & MSG_DONTWAIT) != 0) return false;
    const auto entry = g_sockets.find(fd);
    if (!entry || !entry->inet_stream()) return false;
    const int saved = errno;
    const int fl = libc::fcntl(fd, F_GETFL);
    timeval timeout{};
    socklen_t len = sizeof(timeout);
    const bool blocking_forever =
        fl >= 0 && (fl & O_NONBLOCK) == 0 &&
        libc::getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, &len) == 0 &&
        timeout.tv_sec == 0 && timeout.tv_usec == 0;
    errno = saved;
    return blocking_forever;
}

}  // namespace xlane::preload
