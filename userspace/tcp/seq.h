// Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4): comparisons are
// only meaningful between numbers less than 2^31 apart, which TCP windows keep.
#pragma once

#include <cstdint>

namespace xlane::tcp {

// a < b in sequence space: the signed distance from a to b is positive.
[[nodiscard]] constexpr bool seq_lt(uint32_t a, uint32_t b) {
    return static_cast<int32_t>(a - b) < 0;
}
[[nodiscard]] constexpr bool seq_le(uint32_t a, uint32_t b) {
    return static_cast<int32_t>(a - b) <= 0;
}
[[nodiscard]] constexpr bool seq_gt(uint32_t a, uint32_t b) {
    return seq_lt(b, a);
}
[[nodiscard]] constexpr bool seq_ge(uint32_t a, uint32_t b) {
    return seq_le(b, a);
}
// low <= x < high, the half-open range RFC 9293 uses for window checks.
[[nodiscard]] constexpr bool seq_in_range(uint32_t x, uint32_t low, uint32_t high) {
    return seq_le(low, x) && seq_lt(x, high);
}
[[nodiscard]] constexpr uint32_t seq_max(uint32_t a, uint32_t b) {
    return seq_lt(a, b) ? b : a;
}
[[nodiscard]] constexpr uint32_t seq_min(uint32_t a, uint32_t b) {
    return seq_lt(a, b) ? a : b;
}
// Bytes from a forward to b (b must not be before a).
[[nodiscard]] constexpr uint32_t seq_distance(uint32_t a, uint32_t b) {
    return b - a;
}

}  // namespace xlane::tcp
