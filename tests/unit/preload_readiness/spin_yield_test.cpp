// SpinYield: a spin whose CPU another thread keeps wanting ends (its caller
// sleeps). Both threads are pinned to one CPU, so the busy thread is always
// runnable beside the spinner, whatever else the host runs. (That a spin on
// a quiet CPU goes on is checked by the kernel-spin cases, which see no
// sleep without involuntary switches.)
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "readiness_support.h"

using namespace std::chrono_literals;
using xlane::preload::SpinYield;

namespace {

// Pins the calling thread to `cpu`; restores its affinity when destroyed.
class PinnedTo {
  public:
    explicit PinnedTo(int cpu) {
        REQUIRE(::sched_getaffinity(0, sizeof(saved_), &saved_) == 0);
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        REQUIRE(::sched_setaffinity(0, sizeof(one), &one) == 0);
    }
    ~PinnedTo() { (void)::sched_setaffinity(0, sizeof(saved_), &saved_); }
    PinnedTo(const PinnedTo&) = delete;
    PinnedTo& operator=(const PinnedTo&) = delete;

  private:
    cpu_set_t saved_{};
};

int a_cpu_of_ours() {
    cpu_set_t set;
    REQUIRE(::sched_getaffinity(0, sizeof(set), &set) == 0);
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
        if (CPU_ISSET(cpu, &set)) return cpu;
    FAIL("no CPU in this thread's affinity");
    return 0;
}

// Spins on cpu_wanted() until it says stop or `limit` passes: whether it did.
bool spin_until_wanted(std::chrono::milliseconds limit) {
    SpinYield yield;
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end)
        if (yield.cpu_wanted()) return true;
    return false;
}

}  // namespace

TEST_CASE("spin yield: a busy thread on the spinner's CPU ends the spin") {
    const int cpu = a_cpu_of_ours();
    const PinnedTo pinned(cpu);
    std::atomic<bool> stop{false};
    std::thread busy([&] {
        const PinnedTo same(cpu);
        while (!stop.load(std::memory_order_relaxed)) {
        }
    });
    // Three wanted looks, each after a yield of up to a time slice: well
    // under a second (the spin it ends may last XLANE_SPIN_US, up to 1 s).
    const bool ended = spin_until_wanted(2000ms);
    stop.store(true);
    busy.join();
    CHECK(ended);
}
