// What tells one process apart from a later one with the same pid: its start
// time (field 22 of /proc/<pid>/stat). No allocation and raw syscalls only,
// so libxlane.so may call it from inside its wrappers and fork handlers.
#pragma once

#include <cstddef>
#include <cstdint>

namespace xlane::stats {

// Clock ticks since boot when `pid` started; 0 when it does not exist or
// /proc cannot be read.
[[nodiscard]] uint64_t process_start_time(int pid) noexcept;

// Reads up to size - 1 bytes of a (small, /proc) file and NUL-terminates;
// returns the length, or -1 with errno set.
long read_small_file(const char* path, char* buffer, size_t size) noexcept;

}  // namespace xlane::stats
