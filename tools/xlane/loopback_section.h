// The loopback section of `xlane status`: state and counters of this network
// namespace's loopback path, as text and as JSON (cmd_loopback.cpp).
#pragma once

#include <nlohmann/json.hpp>

namespace xlane::cli {

// {"enabled": false, ...} when the path is off; never fails (an unreadable
// state shows as {"error": "..."}).
[[nodiscard]] nlohmann::ordered_json loopback_section_json();

// A few lines for `xlane status`.
void print_loopback_section();

}  // namespace xlane::cli
