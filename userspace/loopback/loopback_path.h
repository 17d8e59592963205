// The loopback path as a whole: enable (load, pin, attach sk_msg to the
// SOCKHASH and sock_ops to a cgroup, with rollback), disable in the safe
// order, and the state and counters that `xlane status` shows.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "xlane/abi.h"

namespace xlane {

// Measured on kernel 6.18 (bench/loopback, README "Loopback path"): redirect
// wins for request/response (ping-pong) and loses for one-way streams: to
// TCP autocorking for small sends, and on 2-CPU hosts also for 16-64 KB
// writes (0.50-0.65x), where a stream moved to the kernel path is at parity.
// So every one-way stream moves, whatever its message size (stream_small at
// its maximum: every send counts towards the run).
inline constexpr uint32_t kStreamAnySize = UINT32_MAX;
inline constexpr uint32_t kDefaultStreamSmall = kStreamAnySize;
inline constexpr uint32_t kDefaultStreamRun = 64;

// A receive loop that spins on a non-blocking socket finds it empty many
// times between two messages; an event loop reads until one EAGAIN, and
// libxlane.so's receive look lets at most two empty receives in a row per
// thread reach the kernel. Eight in a row is a spinner, with room for three
// threads under the library spinning on one socket (bpf/loopback_spin.bpf.c).
inline constexpr uint32_t kDefaultSpinReads = 8;

struct LoopbackOptions {
    std::string cgroup;           // empty: the unified root
    std::vector<uint16_t> ports;  // empty: every port
    uint32_t stream_small = kDefaultStreamSmall;
    uint32_t stream_run = kDefaultStreamRun;  // 0: never move streams to the kernel
    uint32_t spin_reads = kDefaultSpinReads;  // 0: never stop redirects into spinners
    // Given by the user: a kernel that cannot run the policy is an error.
    // Otherwise (the default) the path is enabled without it.
    bool spin_reads_explicit = false;
};

// Loads the programs, pins them under loopback_pin_dir(), attaches the
// sk_msg verdict to the SOCKHASH, the spinning-receiver tracepoint (unless
// spin_reads is 0), then the SO_RCVLOWAT setsockopt hook and sock_ops to the
// cgroup, and only then switches insertion on. Any failure removes
// everything it created. When the default spinning-receiver policy could
// not be set up, the path is enabled without it and `spin_policy_note` says
// why.
[[nodiscard]] Status enable_loopback(const LoopbackOptions& options,
                                     std::string* spin_policy_note = nullptr);

// Safe order: stop inserting (sock_ops detached), make the verdict pass
// everything, detach the setsockopt hook and the tracepoint, then unpin.
// Sockets already inserted are never removed from the map, so bytes queued
// for them stay readable; they keep the pass-all verdict until they close.
// Returns false when nothing was enabled.
[[nodiscard]] Result<bool> disable_loopback();

struct LoopbackState {
    bool enabled = false;
    std::string pin_dir;
    std::string netns_id;
    bool inserting = false;
    bool pass_all = false;
    uint64_t cgroup_id = 0;
    std::string cgroup_path;      // empty when the cgroup cannot be found
    std::vector<uint16_t> ports;  // empty: every port
    uint32_t stream_small = 0;
    uint32_t stream_run = 0;
    uint32_t spin_reads = 0;
    uint32_t sockets = 0;  // sockets in the SOCKHASH now
    std::array<xlane_counter, XLANE_LB_COUNTER_COUNT> counters{};
};

// The state of this network namespace's loopback path (enabled == false when
// nothing is pinned).
[[nodiscard]] Result<LoopbackState> read_loopback_state();

// Counter names as the tool prints them ("inserted", "redirected", ...).
[[nodiscard]] const char* loopback_counter_name(uint32_t counter);

// "1,2,80-90" -> ports; an error names the bad item.
[[nodiscard]] Result<std::vector<uint16_t>> parse_port_list(const std::string& text);

}  // namespace xlane
