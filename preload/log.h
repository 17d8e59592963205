// The preload library's log: one line per message, written with a single
// write(2) to XLANE_LOG_FILE (or standard error), at XLANE_LOG_LEVEL or above.
// Formatting and writing use no lock, no allocation and no stdio, so a line
// can be written from any thread at any moment, after fork() included.
#pragma once

#include <cstdint>
#include <string_view>

namespace xlane::preload {

enum class LogLevel : uint8_t { error, warn, info, debug, trace };

// Before configure_log() only errors are written, to standard error.
// `path_template` may hold %p (the pid; one file per process after fork) and
// %%; empty means standard error. Called once, when the settings are read.
void configure_log(LogLevel level, std::string_view path_template);
[[nodiscard]] bool log_enabled(LogLevel level);
// Writes "xlane[PID]: LEVEL: TEXT\n" (TEXT cut at about 1 KiB) when enabled.
void log_line(LogLevel level, std::string_view text);
// In a forked child: a log file named with %p is reopened under the child's
// pid at its next line (async-signal-safe: no lock, no allocation).
void log_after_fork_child();

}  // namespace xlane::preload
