#include "common/high_fd.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer follows descriptors through its interceptors: a close it
// does not see, then the same number made again in another thread, reads as
// a data race on that descriptor. Its interceptor closes for real and tells
// it (and is not the library's close wrapper, which the raw call avoids).
extern "C" int __interceptor_close(int fd);
#endif

namespace xlane {

namespace {

void close_low(int fd) noexcept {
#if defined(__SANITIZE_THREAD__)
    (void)__interceptor_close(fd);
#else
    (void)::syscall(SYS_close, fd);
#endif
}

// Above select()'s FD_SETSIZE; higher would only grow the kernel's fd table.
constexpr long kPreferredBase = 1024;
// Room kept above the base when the soft limit is near it.
constexpr long kMinimumRoom = 64;

}  // namespace

int high_fd_base() noexcept {
    rlimit64 limit{};
    if (::syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, nullptr, &limit) != 0) return -1;
    const unsigned long long soft = limit.rlim_cur;
    if (soft >= static_cast<unsigned long long>(kPreferredBase + kMinimumRoom))
        return static_cast<int>(kPreferredBase);
    if (soft < static_cast<unsigned long long>(2 * kMinimumRoom)) return -1;  // no room to spare
    return static_cast<int>(soft - soft / 4);
}

int move_fd_high(int fd) noexcept {
    if (fd < 0) return fd;
    const int saved_errno = errno;
    const int base = high_fd_base();
    if (base < 0 || fd >= base) {
        errno = saved_errno;
        return fd;
    }
    const long moved = ::syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, base);
    if (moved < 0) {  // EMFILE: nothing free up there; keep the low number
        errno = saved_errno;
        return fd;
    }
    close_low(fd);
    errno = saved_errno;
    return static_cast<int>(moved);
}

}  // namespace xlane
