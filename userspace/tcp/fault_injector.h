// FaultInjector: seeded, reproducible packet faults (drop, duplicate,
// reorder by extra delay, fixed delay) for tests of the TCP core over a
// simulated link and over a real one against the kernel's TCP.
#pragma once

#include <cstdint>
#include <random>

#include "tcp/tcp_time.h"

namespace xlane::tcp {

struct FaultRates {
    double drop = 0;       // probability a packet is lost
    double duplicate = 0;  // probability a packet is delivered twice
    double reorder = 0;    // probability a packet is held back by reorder_delay
    Duration delay{0};     // added to every packet
    Duration reorder_delay = std::chrono::milliseconds(5);
};

struct FaultVerdict {
    bool drop = false;
    uint32_t copies = 1;  // 2 when duplicated
    Duration delay{0};
};

class FaultInjector {
  public:
    FaultInjector(FaultRates rates, uint64_t seed) : rates_(rates), rng_(seed) {}

    FaultVerdict next() {
        FaultVerdict verdict;
        verdict.delay = rates_.delay;
        if (chance(rates_.drop)) {
            verdict.drop = true;
            ++dropped_;
            return verdict;
        }
        if (chance(rates_.duplicate)) {
            verdict.copies = 2;
            ++duplicated_;
        }
        if (chance(rates_.reorder)) {
            verdict.delay += rates_.reorder_delay;
            ++reordered_;
        }
        return verdict;
    }

    [[nodiscard]] const FaultRates& rates() const { return rates_; }
    [[nodiscard]] uint64_t dropped() const { return dropped_; }
    [[nodiscard]] uint64_t duplicated() const { return duplicated_; }
    [[nodiscard]] uint64_t reordered() const { return reordered_; }

  private:
    bool chance(double p) {
        if (p <= 0) return false;
        return std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < p;
    }

    FaultRates rates_;
    std::mt19937_64 rng_;
    uint64_t dropped_ = 0, duplicated_ = 0, reordered_ = 0;
};

}  // namespace xlane::tcp
