// The XDP program's per-reason counters (xlane_stats), summed over CPUs,
// with the reasons' names: the one place C++ names enum xlane_xdp_reason.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "common/result.h"
#include "xlane/abi.h"

namespace xlane {

struct ReasonCounter {
    std::string_view reason;  // e.g. "redirect_flow", "pass_no_match"
    bool redirect = false;    // the verdict was XDP_REDIRECT to an XSK
    uint64_t packets = 0;
    uint64_t bytes = 0;
};

using XdpCounters = std::array<ReasonCounter, XLANE_REASON_COUNT>;

// Name of a reason id, "" for one this build does not know.
[[nodiscard]] std::string_view reason_name(uint32_t reason);

// Reads the pinned per-CPU stats map and sums each reason over all CPUs.
[[nodiscard]] Result<XdpCounters> read_xdp_counters(int stats_map_fd);

}  // namespace xlane
