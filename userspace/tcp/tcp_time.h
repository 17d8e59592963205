// The time vocabulary of the TCP core: a monotonic instant given by the
// caller (a real clock in production, a virtual one in tests) and durations.
#pragma once

#include <chrono>

namespace xlane::tcp {

using Duration = std::chrono::nanoseconds;
// Time since an arbitrary origin of a monotonic clock; never goes back.
using Instant = std::chrono::nanoseconds;
inline constexpr Instant kNever = Instant::max();

}  // namespace xlane::tcp
