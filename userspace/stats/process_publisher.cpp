#include "stats/process_publisher.h"

#include <sched.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "config/settings.h"

namespace xlane::stats {

namespace {

alignas(StatsPublisher) unsigned char g_storage[sizeof(StatsPublisher)];
std::atomic<int> g_state{0};  // 0: not created, 1: being created, 2: ready

StatsPublisher* instance() {
    return std::launder(reinterpret_cast<StatsPublisher*>(g_storage));
}

void finish_at_exit() {
    instance()->finish();
}

}  // namespace

StatsPublisher& process_publisher() noexcept {
    if (g_state.load(std::memory_order_acquire) == 2) return *instance();
    int expected = 0;
    if (g_state.compare_exchange_strong(expected, 1, std::memory_order_acquire)) {
        std::string stats_file;
        try {
            // The same table and rules as every other XLANE_* variable (a
            // bad value is the preload library's to log). %p stays in: the
            // publisher expands it when it writes, so a forked child writes
            // its own file.
            stats_file = config::load_settings_from_environment().settings.stats_file;
        } catch (...) {
            stats_file.clear();  // out of memory: no stats file, the segment still works
        }
        new (g_storage) StatsPublisher(nullptr, stats_file.c_str());
        std::atexit(finish_at_exit);
        g_state.store(2, std::memory_order_release);
        return *instance();
    }
    while (g_state.load(std::memory_order_acquire) != 2) sched_yield();
    return *instance();
}

void remove_process_segment_at_exit() noexcept {
    if (g_state.load(std::memory_order_acquire) == 2) instance()->remove_segment_if_owner();
}

}  // namespace xlane::stats
