// RttEstimator: smoothed RTT, variance and retransmission timeout per RFC 6298,
// with exponential backoff (§5.5) and Linux's 200 ms floor by default.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "tcp/tcp_time.h"

namespace xlane::tcp {

class RttEstimator {
  public:
    struct Limits {
        Duration initial = std::chrono::seconds(1);  // RFC 6298 §2.1
        Duration min = std::chrono::milliseconds(200);
        Duration max = std::chrono::seconds(120);
        Duration granularity = std::chrono::milliseconds(1);  // G
    };

    RttEstimator() : RttEstimator(Limits{}) {}
    explicit RttEstimator(Limits limits) : limits_(limits), rto_(limits.initial) {}

    // One measurement (never from a retransmitted segment: Karn's rule is the
    // caller's, which knows what was retransmitted).
    void sample(Duration rtt) {
        rtt = std::max(rtt, Duration(0));
        if (!has_sample_) {
            srtt_ = rtt;
            rttvar_ = rtt / 2;
            has_sample_ = true;
        } else {
            const Duration delta = srtt_ > rtt ? srtt_ - rtt : rtt - srtt_;
            rttvar_ = (rttvar_ * 3 + delta) / 4;
            srtt_ = (srtt_ * 7 + rtt) / 8;
        }
        rto_ = std::clamp(srtt_ + std::max(limits_.granularity, rttvar_ * 4), limits_.min,
                          limits_.max);
        backoff_ = 0;
    }

    // §5.5: doubles the timeout after a retransmission timeout (capped).
    void back_off() {
        if (backoff_ < 31) ++backoff_;
    }
    void reset_backoff() { backoff_ = 0; }
    // §5.7: after a lost SYN and no RTT sample, data starts from 3 s.
    void lost_syn() {
        if (!has_sample_) rto_ = std::max(rto_, Duration(std::chrono::seconds(3)));
    }

    [[nodiscard]] Duration rto() const {
        Duration value = rto_;
        for (uint32_t i = 0; i < backoff_ && value < limits_.max; ++i) value *= 2;
        return std::min(value, limits_.max);
    }
    [[nodiscard]] Duration base_rto() const { return rto_; }
    [[nodiscard]] Duration srtt() const { return srtt_; }
    [[nodiscard]] Duration rttvar() const { return rttvar_; }
    [[nodiscard]] bool has_sample() const { return has_sample_; }
    [[nodiscard]] uint32_t backoff() const { return backoff_; }
    [[nodiscard]] const Limits& limits() const { return limits_; }

  private:
    Limits limits_;
    Duration srtt_{0};
    Duration rttvar_{0};
    Duration rto_;
    uint32_t backoff_ = 0;
    bool has_sample_ = false;
};

}  // namespace xlane::tcp
