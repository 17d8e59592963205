#include "stats/process_identity.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace xlane::stats {

long read_small_file(const char* path, char* buffer, size_t size) noexcept {
    if (size == 0) return -1;
    // Raw syscalls: inside libxlane.so, read()/close() are our own wrappers.
    const long fd = ::syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t used = 0;
    while (used + 1 < size) {
        const long n = ::syscall(SYS_read, fd, buffer + used, size - 1 - used);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int saved = errno;
            ::syscall(SYS_close, fd);
            errno = saved;
            return -1;
        }
        if (n == 0) break;
        used += static_cast<size_t>(n);
    }
    ::syscall(SYS_close, fd);
    buffer[used] = '\0';
    return static_cast<long>(used);
}

uint64_t process_start_time(int pid) noexcept {
    char path[64];
    std::snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    char stat[1024];
    if (read_small_file(path, stat, sizeof(stat)) <= 0) return 0;
    // The command name (field 2) may hold spaces and ')': fields after it
    // start after the LAST ')'. Field 3 follows; start time is field 22.
    const char* cursor = std::strrchr(stat, ')');
    if (cursor == nullptr) return 0;
    ++cursor;
    for (int field = 3; field < 22; ++field) {
        while (*cursor == ' ') ++cursor;
        while (*cursor != ' ' && *cursor != '\0') ++cursor;
        if (*cursor == '\0') return 0;
    }
    char* end = nullptr;
    const unsigned long long ticks = std::strtoull(cursor, &end, 10);
    return end == cursor ? 0 : ticks;
}

}  // namespace xlane::stats
