// The one StatsPublisher of a process, for libxlane.so: created at first use
// (never by a static constructor), never destroyed (threads may still count
// while the process exits), XLANE_STATS_FILE taken from the environment.
#pragma once

#include "stats/stats_publisher.h"

namespace xlane::stats {

// Thread-safe; the first call reads XLANE_STATS_FILE (secure_getenv, like
// every XLANE_* setting) and registers an atexit handler that writes the
// summary of the sockets still open and removes the segment.
[[nodiscard]] StatsPublisher& process_publisher() noexcept;

// _exit/_Exit skip the atexit handler: removes this process's segment if
// there is one (creates nothing; safe in signal handlers and vfork children).
void remove_process_segment_at_exit() noexcept;

}  // namespace xlane::stats
