#include "fast_splice.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <new>
#include <utility>

#include "common/high_fd.h"
#include "fast_tcp.h"
#include "libc_table.h"
#include "loopback_splice.h"

namespace xlane::preload {
namespace {

namespace libc = xlane::preload::libc;

// One send per call at most: a pipe holds 64 KiB unless resized.
constexpr size_t kChunk = 64 * 1024;

ssize_t fast_receive(int fd, void* buf, size_t len, int flags) {
    iovec iov{buf, len};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t ret = 0;
    if (fast::tcp::recvmsg(fd, &msg, flags, &ret)) return ret;
    return libc::recv(fd, buf, len, flags);  // left the fast path: the kernel has the stream
}

// A private pipe for tee(), per thread. The application may close any
// descriptor, ours included, and reuse its number: each use checks that the
// numbers still name the pipe made here, and makes a new one otherwise.
class ScratchPipe {
  public:
    ScratchPipe() = default;
    ScratchPipe(const ScratchPipe&) = delete;
    ScratchPipe& operator=(const ScratchPipe&) = delete;
    ~ScratchPipe() { close_both(); }

    // False with errno when no pipe can be made.
    bool ready() {
        if (fds_[0] >= 0 && still_ours()) return true;
        fds_[0] = fds_[1] = -1;  // not ours any more: never close them
        // Blocking ends: tee() makes the whole call non-blocking when either
        // end is O_NONBLOCK, and the caller decides that itself.
        if (::pipe2(fds_, O_CLOEXEC) != 0) return false;
        for (int& fd : fds_) fd = move_fd_high(fd);  // common/high_fd.h
        struct stat st {};
        if (::fstat(fds_[0], &st) != 0) {
            close_both();
            return false;
        }
        inode_ = st.st_ino;
        return true;
    }
    [[nodiscard]] int read_end() const { return fds_[0]; }
    [[nodiscard]] int write_end() const { return fds_[1]; }

  private:
    bool still_ours() const {
        struct stat r {};
        struct stat w {};
        return ::fstat(fds_[0], &r) == 0 && ::fstat(fds_[1], &w) == 0 && S_ISFIFO(r.st_mode) &&
               r.st_ino == inode_ && w.st_ino == inode_;
    }
    void close_both() {
        for (int& fd : fds_)
            if (fd >= 0) libc::close(std::exchange(fd, -1));
    }

    int fds_[2] = {-1, -1};
    ino_t inode_ = 0;
};

char* bounce_buffer() {
    thread_local std::unique_ptr<char[]> buffer(new (std::nothrow) char[kChunk]);
    return buffer.get();
}

// Waits until the pipe has bytes or no writer; false with errno (EAGAIN
// when it would wait and must not, EINTR).
bool wait_for_pipe_data(int pipe_fd, bool nonblocking) {
    pollfd in{pipe_fd, POLLIN, 0};
    if (libc::poll(&in, 1, 0) < 0) return false;
    if (in.revents & (POLLIN | POLLHUP)) return true;
    if (nonblocking) {
        errno = EAGAIN;
        return false;
    }
    return libc::poll(&in, 1, -1) >= 0;
}

// Reads exactly `len` bytes that are known to be in the pipe.
bool read_exactly(int fd, char* buf, size_t len) {
    while (len > 0) {
        const ssize_t got = libc::read(fd, buf, len);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        buf += got;
        len -= static_cast<size_t>(got);
    }
    return true;
}

}  // namespace

ssize_t splice_fast_socket_to_pipe(int socket_fd, int pipe_fd, size_t len, unsigned flags) {
    return splice_socket_to_pipe(socket_fd, pipe_fd, len, flags, fast_receive);
}

ssize_t splice_pipe_to_fast_socket(int pipe_fd, int socket_fd, size_t len, unsigned flags) {
    SpliceEnds ends;
    if (!check_splice_ends(socket_fd, pipe_fd, O_WRONLY, flags, &ends)) return -1;
    if (len == 0) return 0;
    // The wait for pipe data follows ends.nonblocking; the send itself
    // blocks as the socket does.
    const bool nonblocking = ends.nonblocking;
    thread_local ScratchPipe scratch;
    char* buffer = bounce_buffer();
    if (buffer == nullptr) {
        errno = ENOMEM;
        return -1;
    }
    if (!scratch.ready()) return -1;

    ssize_t copied = 0;
    for (;;) {
        if (!wait_for_pipe_data(pipe_fd, nonblocking)) return -1;
        copied = ::tee(pipe_fd, scratch.write_end(), std::min(len, kChunk), SPLICE_F_NONBLOCK);
        if (copied >= 0) break;
        if (errno != EAGAIN) return -1;
        // Another reader emptied the pipe after the wait: wait again.
    }
    if (copied == 0) return 0;  // empty, and no writer left
    if (!read_exactly(scratch.read_end(), buffer, static_cast<size_t>(copied))) return -1;

    iovec iov{buffer, static_cast<size_t>(copied)};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t sent = 0;
    const int send_flags = (flags & SPLICE_F_MORE) != 0 ? MSG_MORE : 0;
    if (!fast::tcp::sendmsg(socket_fd, &msg, send_flags, &sent)) {
        // Handed to the kernel meanwhile: its socket now holds the stream,
        // and nothing was taken from the pipe yet.
        return libc::splice(pipe_fd, nullptr, socket_fd, nullptr, len, flags);
    }
    if (sent <= 0) return sent;
    // Now take from the pipe exactly what the socket took (the same bytes:
    // tee copied them from its head, and a pipe has one reader here).
    if (!read_exactly(pipe_fd, buffer, static_cast<size_t>(sent))) return -1;
    return sent;
}

}  // namespace xlane::preload
