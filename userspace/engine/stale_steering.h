// Removal of steering entries left behind by processes that died without
// closing their sockets (SIGKILL, crash), identified by pid + start time.
#pragma once

#include <cstddef>

#include "common/result.h"
#include "steering/steering_table.h"

namespace xlane::engine {

struct StaleRemoval {
    size_t binds = 0;
    size_t flows = 0;
};

// Removes every bind and flow whose owner no longer runs (SteerOwner::alive:
// same pid and same start time), and, when `self` is given, those owned by
// `self` too: a process that has just taken the interface lock owns no live
// entry there, so its own entries are leftovers of an earlier program image
// (exec keeps pid and start time) or of an engine that could not clean up.
// Entries marked XLANE_STEER_TEST_ENTRY were entered by hand (`xlane flows
// add`) and stay until removed by hand.
[[nodiscard]] Result<StaleRemoval> remove_dead_owner_entries(
    SteeringTable& table, const xlane_steer_value* self = nullptr);

}  // namespace xlane::engine
