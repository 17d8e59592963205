// NewReno and CUBIC window arithmetic. Windows are bytes; CUBIC computes in
// segments (doubles) as RFC 9438 states its formulas, and converts back.
#include "tcp/congestion_control.h"

#include <algorithm>
#include <cmath>

namespace xlane::tcp {

std::string_view to_string(CongestionAlgorithm algorithm) {
    switch (algorithm) {
        case CongestionAlgorithm::kNewReno:
            return "newreno";
        case CongestionAlgorithm::kCubic:
            return "cubic";
    }
    return "unknown";
}

std::optional<CongestionAlgorithm> congestion_algorithm_from(std::string_view name) {
    if (name == "newreno" || name == "reno") return CongestionAlgorithm::kNewReno;
    if (name == "cubic") return CongestionAlgorithm::kCubic;
    return std::nullopt;
}

CongestionControl::CongestionControl(uint32_t mss, uint32_t initial_window_segments)
    : mss_(mss), cwnd_(mss * std::max<uint32_t>(initial_window_segments, 1)) {}

uint32_t CongestionControl::slow_start(uint32_t acked_bytes) {
    const uint32_t growth = std::min(acked_bytes, 2 * mss_);
    const uint32_t room = ssthresh_ - cwnd_;
    if (growth <= room) {
        cwnd_ += growth;
        return 0;
    }
    cwnd_ = ssthresh_;
    return growth - room;
}

uint32_t CongestionControl::half_flight(uint32_t flight_bytes) const {
    return std::max(flight_bytes / 2, 2 * mss_);
}

// ---- NewReno

void NewReno::on_ack(uint32_t acked_bytes, bool cwnd_limited, Instant, Duration) {
    if (!cwnd_limited) return;
    if (in_slow_start()) {
        acked_bytes = slow_start(acked_bytes);
        if (acked_bytes == 0) return;
    }
    // One segment per window of data acknowledged (RFC 5681 eq. 3, bytes form).
    bytes_acked_ += acked_bytes;
    if (bytes_acked_ >= cwnd_) {
        bytes_acked_ -= cwnd_;
        cwnd_ += mss_;
    }
}

void NewReno::on_congestion_event(uint32_t flight_bytes, Instant) {
    ssthresh_ = half_flight(flight_bytes);
    cwnd_ = ssthresh_;
    bytes_acked_ = 0;
}

void NewReno::on_timeout(uint32_t flight_bytes, Instant) {
    ssthresh_ = half_flight(flight_bytes);
    cwnd_ = mss_;
    bytes_acked_ = 0;
}

// ---- CUBIC

void Cubic::reduce(uint32_t flight_bytes) {
    const double cwnd_segments = static_cast<double>(cwnd_) / mss_;
    // §4.7 fast convergence: release bandwidth for newer flows.
    if (cwnd_segments < w_last_max_) {
        w_last_max_ = cwnd_segments;
        w_max_ = cwnd_segments * (1.0 + kBeta) / 2.0;
    } else {
        w_last_max_ = cwnd_segments;
        w_max_ = cwnd_segments;
    }
    // §4.6: ssthresh from the flight size, never below 2 segments.
    const double reduced = std::max(static_cast<double>(flight_bytes) * kBeta, 2.0 * mss_);
    ssthresh_ = static_cast<uint32_t>(reduced);
    epoch_start_.reset();
    ack_credit_ = 0;
}

void Cubic::on_congestion_event(uint32_t flight_bytes, Instant) {
    reduce(flight_bytes);
    cwnd_ = ssthresh_;
}

void Cubic::on_timeout(uint32_t flight_bytes, Instant) {
    reduce(flight_bytes);
    cwnd_ = mss_;
}

void Cubic::on_ack(uint32_t acked_bytes, bool cwnd_limited, Instant now, Duration srtt) {
    if (!cwnd_limited) return;
    if (in_slow_start()) {
        acked_bytes = slow_start(acked_bytes);
        if (acked_bytes == 0) return;
    }
    const double cwnd_segments = static_cast<double>(cwnd_) / mss_;
    if (!epoch_start_) {
        // §4.2: a new congestion-avoidance epoch starts at this ACK.
        epoch_start_ = now;
        cwnd_epoch_ = cwnd_segments;
        w_est_ = cwnd_segments;
        if (w_max_ <= cwnd_segments) {
            k_ = 0;
            w_max_ = cwnd_segments;
        } else {
            k_ = std::cbrt((w_max_ - cwnd_epoch_) / kC);
        }
    }
    const double acked_segments = static_cast<double>(acked_bytes) / mss_;
    const double t = std::chrono::duration<double>(now - *epoch_start_).count();
    const double rtt = std::chrono::duration<double>(srtt).count();
    auto w_cubic = [&](double time) { return kC * std::pow(time - k_, 3.0) + w_max_; };
    // §4.3: the Reno-friendly estimate grows by alpha per window acknowledged.
    const double alpha = 3.0 * (1.0 - kBeta) / (1.0 + kBeta);
    w_est_ += alpha * acked_segments / cwnd_segments;
    double increment;  // segments of growth this ACK earns
    if (w_cubic(t) < w_est_) {
        increment = std::max(0.0, w_est_ - cwnd_segments);
    } else {
        // §4.4/4.5: aim at W_cubic one RTT ahead, clamped to [cwnd, 1.5 cwnd].
        const double target = std::clamp(w_cubic(t + rtt), cwnd_segments, 1.5 * cwnd_segments);
        increment = (target - cwnd_segments) * acked_segments / cwnd_segments;
    }
    ack_credit_ += increment;
    if (ack_credit_ >= 1.0 / mss_) {
        const double bytes = ack_credit_ * mss_;
        const auto whole = static_cast<uint32_t>(std::min(bytes, 1e9));
        cwnd_ += whole;
        ack_credit_ -= static_cast<double>(whole) / mss_;
    }
}

std::unique_ptr<CongestionControl> make_congestion_control(CongestionAlgorithm algorithm,
                                                           uint32_t mss,
                                                           uint32_t initial_window_segments) {
    switch (algorithm) {
        case CongestionAlgorithm::kCubic:
            return std::make_unique<Cubic>(mss, initial_window_segments);
        case CongestionAlgorithm::kNewReno:
            break;
    }
    return std::make_unique<NewReno>(mss, initial_window_segments);
}

}  // namespace xlane::tcp
