// The four maps of one XDP attachment, opened through their pins, and how
// full they are. Shared by the tool (status, flows) and the preload library.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace xlane {

struct PinnedXdpMaps {
    UniqueFd flows;  // xlane_flows: 5-tuple -> owner
    UniqueFd binds;  // xlane_binds: 3-tuple -> owner
    UniqueFd xsks;   // xlane_xsks: RX queue -> AF_XDP socket
    UniqueFd stats;  // xlane_stats: reason -> per-CPU counter

    // Opens every map pinned in `pin_dir`; an error names the missing pin.
    [[nodiscard]] static Result<PinnedXdpMaps> open(const std::string& pin_dir);
};

struct MapFill {
    std::optional<uint32_t> entries;  // nullopt when the kernel cannot enumerate them
    uint32_t max_entries = 0;
};

// Entries in a hash map (walked key by key) against its max_entries. XSKMAP
// slots are not readable from user space: their entries stay unknown.
[[nodiscard]] Result<MapFill> map_fill(int map_fd);

}  // namespace xlane
