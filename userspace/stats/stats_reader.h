// The reading side of the stats segments (stats_layout.h), for `xlane sockets`
// and `xlane stats`: consistent snapshots of every live publisher's sockets,
// and removal of segments whose owner is gone.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "stats/stats_layout.h"

namespace xlane::stats {

struct SocketSnapshot {
    uint32_t slot = 0;  // index in its segment; with opened_realtime_ns, identifies it across samples
    int fd = -1;
    int family = 0;
    int protocol = 0;
    Path path = Path::unknown;
    Reason reason = Reason::none;
    std::string reason_text;
    StatsEndpoint local{};
    StatsEndpoint remote{};
    uint64_t opened_realtime_ns = 0;
    std::array<uint64_t, kCounterCount> counters{};

    [[nodiscard]] uint64_t counter(Counter c) const { return counters[static_cast<size_t>(c)]; }
};

struct ProcessSnapshot {
    int pid = 0;
    uint32_t uid = 0;
    uint64_t start_time = 0;
    std::string comm;
    std::string segment;  // the file
    uint64_t created_realtime_ns = 0;
    std::vector<PortUsage> ports;    // fast-path counters per interface
    std::vector<QueueUsage> queues;  // ring and UMEM use per AF_XDP socket
    uint64_t usage_realtime_ns = 0;  // when ports and queues were refreshed (0: never)
    std::vector<SocketSnapshot> sockets;  // live ones, in slot order
};

struct ReadOptions {
    std::string directory = kDefaultDirectory;
    std::optional<int> pid;    // only this process
    bool remove_stale = true;  // unlink segments whose owner is gone
};

struct ReadReport {
    std::vector<ProcessSnapshot> processes;  // by pid
    std::vector<std::string> removed;        // stale segments unlinked by this read
    size_t unreadable = 0;                   // segments of other users (needs root)
    std::vector<Error> problems;             // segments that could not be understood
};

// Every segment in the directory whose owner still runs (same pid, same start
// time, and still maps the segment, which tells an exec into a program
// without libxlane.so apart). Fails only when the directory cannot be listed.
[[nodiscard]] Result<ReadReport> read_segments(const ReadOptions& options = {});

// One segment file, without the liveness checks (tests, post-mortem).
[[nodiscard]] Result<ProcessSnapshot> read_segment(const std::string& path);

// "xlane-stats.<pid>" -> pid; nullopt for any other name.
[[nodiscard]] std::optional<int> segment_pid(const std::string& file_name);

// The endpoint as text ("*" when not set).
[[nodiscard]] std::string to_string(const StatsEndpoint& endpoint);

}  // namespace xlane::stats
