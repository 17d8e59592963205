// Interposed splice(). Three cases differ from libc: both directions between
// a pipe and a TCP socket the fast path serves (fast_splice.h), and socket ->
// pipe when the socket is on the loopback path (loopback_splice.h).
// Everything else, including pipe -> loopback socket (which works through
// sk_msg) and any call with an offset (which the kernel refuses for a socket
// or a pipe before it moves a byte), is the kernel's.
#include <sys/stat.h>

#include "fast_splice.h"
#include "fast_tcp.h"
#include "interpose.h"
#include "libc_table.h"
#include "loopback_splice.h"
#include "socket_table.h"
#include "stats_hooks.h"

namespace libc = xlane::preload::libc;
namespace fast = xlane::preload::fast;
namespace stats_hooks = xlane::preload::stats_hooks;
using xlane::preload::g_sockets;

namespace {

// TCP/IP sockets that this process created or accepted; sockets inherited
// from before the library was loaded are not in the table and keep the
// kernel's splice (they were connected before, so never on the path).
bool may_be_loopback_socket(int fd) {
    const auto entry = g_sockets.find(fd);
    return entry && entry->inet_stream();
}

bool is_pipe(int fd) {
    struct stat st {};
    return ::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

}  // namespace

XLANE_INTERPOSE ssize_t splice(int fd_in, loff_t* off_in, int fd_out, loff_t* off_out, size_t len,
                               unsigned int flags) {
    if (off_in == nullptr && off_out == nullptr && fast::tcp::serves(fd_in) && is_pipe(fd_out)) {
        const ssize_t ret = xlane::preload::splice_fast_socket_to_pipe(fd_in, fd_out, len, flags);
        stats_hooks::received(fd_in, ret);
        return ret;
    }
    if (off_in == nullptr && off_out == nullptr && fast::tcp::serves(fd_out) && is_pipe(fd_in)) {
        const ssize_t ret = xlane::preload::splice_pipe_to_fast_socket(fd_in, fd_out, len, flags);
        stats_hooks::sent(fd_out, ret);
        return ret;
    }
    if (off_in == nullptr && off_out == nullptr && may_be_loopback_socket(fd_in) &&
        is_pipe(fd_out) && xlane::preload::loopback_may_redirect_into(fd_in))
        return xlane::preload::splice_socket_to_pipe(fd_in, fd_out, len, flags);
    return libc::splice(fd_in, off_in, fd_out, off_out, len, flags);
}
