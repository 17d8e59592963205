// CongestionControl: the congestion window as a small interface, so NewReno
// (RFC 5681 + RFC 6582) and CUBIC (RFC 9438) plug into the same connection.
// The connection owns loss detection and recovery; the algorithm only says
// how large cwnd and ssthresh are after each kind of event.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "tcp/tcp_time.h"

namespace xlane::tcp {

enum class CongestionAlgorithm : uint8_t { kNewReno, kCubic };
[[nodiscard]] std::string_view to_string(CongestionAlgorithm algorithm);
[[nodiscard]] std::optional<CongestionAlgorithm> congestion_algorithm_from(std::string_view name);

class CongestionControl {
  public:
    CongestionControl(uint32_t mss, uint32_t initial_window_segments);
    virtual ~CongestionControl() = default;
    CongestionControl(const CongestionControl&) = delete;
    CongestionControl& operator=(const CongestionControl&) = delete;

    [[nodiscard]] virtual CongestionAlgorithm algorithm() const = 0;

    // New data cumulatively acknowledged outside loss recovery. `cwnd_limited`
    // says the sender was using the window (RFC 7661: do not grow an idle one).
    virtual void on_ack(uint32_t acked_bytes, bool cwnd_limited, Instant now, Duration srtt) = 0;
    // Fast retransmit starts recovery (once per window of data).
    virtual void on_congestion_event(uint32_t flight_bytes, Instant now) = 0;
    // The recovery point was acknowledged.
    virtual void on_recovery_exit() { cwnd_ = ssthresh_; }
    // Retransmission timeout (RFC 5681 §3.1 eq. 4, loss window of one segment).
    virtual void on_timeout(uint32_t flight_bytes, Instant now) = 0;

    void set_mss(uint32_t mss) { mss_ = mss; }
    // Switching algorithms on a live connection: the window carries over.
    void take_window_from(const CongestionControl& previous) {
        cwnd_ = previous.cwnd_;
        ssthresh_ = previous.ssthresh_;
    }
    [[nodiscard]] uint32_t cwnd() const { return cwnd_; }
    [[nodiscard]] uint32_t ssthresh() const { return ssthresh_; }
    [[nodiscard]] uint32_t mss() const { return mss_; }
    [[nodiscard]] bool in_slow_start() const { return cwnd_ < ssthresh_; }

  protected:
    // Slow start: one segment per segment acknowledged (RFC 5681 §3.1 with
    // appropriate byte counting, L = 2 SMSS per ACK, RFC 3465). Returns the
    // bytes left over once cwnd reaches ssthresh.
    uint32_t slow_start(uint32_t acked_bytes);
    [[nodiscard]] uint32_t half_flight(uint32_t flight_bytes) const;

    uint32_t mss_;
    uint32_t cwnd_;
    uint32_t ssthresh_ = UINT32_MAX;  // RFC 5681: arbitrarily high at first
};

class NewReno final : public CongestionControl {
  public:
    using CongestionControl::CongestionControl;
    [[nodiscard]] CongestionAlgorithm algorithm() const override {
        return CongestionAlgorithm::kNewReno;
    }
    void on_ack(uint32_t acked_bytes, bool cwnd_limited, Instant now, Duration srtt) override;
    void on_congestion_event(uint32_t flight_bytes, Instant now) override;
    void on_timeout(uint32_t flight_bytes, Instant now) override;

  private:
    uint32_t bytes_acked_ = 0;  // congestion avoidance counter (RFC 5681 §3.1)
};

class Cubic final : public CongestionControl {
  public:
    using CongestionControl::CongestionControl;
    [[nodiscard]] CongestionAlgorithm algorithm() const override {
        return CongestionAlgorithm::kCubic;
    }
    void on_ack(uint32_t acked_bytes, bool cwnd_limited, Instant now, Duration srtt) override;
    void on_congestion_event(uint32_t flight_bytes, Instant now) override;
    void on_timeout(uint32_t flight_bytes, Instant now) override;

    // RFC 9438 §4.6 / §4.2 constants.
    static constexpr double kBeta = 0.7;
    static constexpr double kC = 0.4;

  private:
    void reduce(uint32_t flight_bytes);

    double w_max_ = 0;       // segments, at the last congestion event
    double w_last_max_ = 0;  // for fast convergence (§4.7)
    double w_est_ = 0;       // Reno-friendly estimate (§4.3), segments
    double k_ = 0;           // seconds
    double cwnd_epoch_ = 0;  // segments at the start of the epoch
    std::optional<Instant> epoch_start_;
    double ack_credit_ = 0;  // fractional segments of growth not yet applied
};

[[nodiscard]] std::unique_ptr<CongestionControl> make_congestion_control(
    CongestionAlgorithm algorithm, uint32_t mss, uint32_t initial_window_segments);

}  // namespace xlane::tcp
