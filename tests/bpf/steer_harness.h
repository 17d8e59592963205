// SteerHarness: the xdp_steer skeleton loaded (never attached) plus the
// plumbing to run frames through it with BPF_PROG_TEST_RUN and see which
// xlane_stats counters moved.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>

#include "common/result.h"
#include "packet/wire.h"
#include "steer_model.h"
#include "xlane/abi.h"

namespace xlane::test {

using ReasonCounters = std::array<xlane_counter, XLANE_REASON_COUNT>;

// The xdp_md given to the run: ingress_ifindex 0 means the kernel's dummy
// test queue (queue 0, no device).
struct RunContext {
    uint32_t ingress_ifindex = 0;
    uint32_t rx_queue_index = 0;
};

struct RunOutcome {
    uint32_t action = 0;     // XDP_PASS, XDP_REDIRECT, ...
    ReasonCounters delta{};  // counters after minus before, summed over CPUs
};

class SteerHarness {
  public:
    [[nodiscard]] static Result<SteerHarness> load();

    // Puts every key of the model in xlane_flows / xlane_binds.
    [[nodiscard]] Status install(const SteeringModel& model);
    [[nodiscard]] Status set_xsk(uint32_t queue, int xsk_fd);
    [[nodiscard]] Status clear_xsk(uint32_t queue);
    [[nodiscard]] Result<ReasonCounters> read_stats() const;
    [[nodiscard]] Result<RunOutcome> run(packet::Bytes frame, RunContext context = {});
    // For attaching the loaded program to a device of a private namespace.
    [[nodiscard]] int program_fd() const;

    SteerHarness(SteerHarness&&) noexcept;
    ~SteerHarness();

  private:
    // The skeleton's functions are `static inline` in the generated header,
    // so a member of type XdpSteerSkeleton in a header trips
    // -Wsubobject-linkage; it lives behind a pointer defined in the .cpp.
    struct Loaded;
    explicit SteerHarness(std::unique_ptr<Loaded> loaded);
    std::unique_ptr<Loaded> loaded_;
};

}  // namespace xlane::test
