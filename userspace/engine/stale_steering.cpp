#include "engine/stale_steering.h"

namespace xlane::engine {
namespace {

bool is_stale(const xlane_steer_value& owner, const xlane_steer_value* self) {
    if ((owner.flags & XLANE_STEER_TEST_ENTRY) != 0) return false;
    if (self != nullptr && owner.owner_pid == self->owner_pid &&
        owner.owner_start_time == self->owner_start_time)
        return true;
    return !SteerOwner::alive(owner);
}

}  // namespace

Result<StaleRemoval> remove_dead_owner_entries(SteeringTable& table,
                                                const xlane_steer_value* self) {
    StaleRemoval removed;
    auto binds = table.binds();
    if (!binds) return binds.error();
    for (const BindEntry& entry : binds.value()) {
        if (!is_stale(entry.owner, self)) continue;
        // ENOENT: another cleaner was faster, which is just as good.
        if (auto status = table.remove_bind(entry.key); status)
            ++removed.binds;
        else if (status.error().errnum != ENOENT)
            return status.error();
    }
    auto flows = table.flows();
    if (!flows) return flows.error();
    for (const FlowEntry& entry : flows.value()) {
        if (!is_stale(entry.owner, self)) continue;
        if (auto status = table.remove_flow(entry.key); status)
            ++removed.flows;
        else if (status.error().errnum != ENOENT)
            return status.error();
    }
    return removed;
}

}  // namespace xlane::engine
