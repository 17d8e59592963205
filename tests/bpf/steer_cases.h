// The steering tables and the frame table of the xlane_steer tests: what is
// bound or connected, and one row per frame shape with the reason it must
// be counted under when an XSK serves the RX queue.
#pragma once

#include <string>
#include <vector>

#include "steer_model.h"

namespace xlane::test {

struct SteerCase {
    std::string name;
    std::vector<uint8_t> frame;
    xlane_xdp_reason reason;  // with an XSK in the queue's slot
};

// Binds and flows every case is written against.
[[nodiscard]] SteeringModel steering_tables();
[[nodiscard]] std::vector<SteerCase> steer_cases();
// Well-formed frames that hit a steering entry (truncation and mutation seeds).
[[nodiscard]] std::vector<SteerCase> hit_cases();

}  // namespace xlane::test
