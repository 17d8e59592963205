// Frames for the xlane_steer robustness run: random bytes, random but
// well-built headers aimed at the steering tables (FrameBuilder), and
// mutations of both; plus a reference check, written apart from
// FrameParser, of what the program may redirect at all.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "packet/wire.h"
#include "steer_model.h"
#include "xlane/abi.h"

namespace xlane::test {

// Uniformly random bytes, 0..max_length long.
[[nodiscard]] std::vector<uint8_t> random_bytes(std::mt19937& rng, size_t max_length);

// A frame built from random choices aimed at `model`: a flow's or a bind's
// address and port most of the time, random ones otherwise; 0-2 VLAN tags,
// IPv4 options, IPv6 extension headers, fragments, padding, and one of the
// builder's knobs that break a length or version now and then.
[[nodiscard]] std::vector<uint8_t> random_steer_frame(std::mt19937& rng,
                                                      const SteeringModel& model);

// Flips bits, overwrites or inserts header bytes, truncates or extends.
void mutate(std::mt19937& rng, std::vector<uint8_t>& frame);

// REDIRECT_FLOW or REDIRECT_BIND when `frame` is a complete IPv4/IPv6 UDP/TCP
// frame (at most two VLAN tags, no fragment, no IPv6 extension header,
// lengths consistent) whose tuple is in `model`; nullopt otherwise. Reads
// the bytes itself, so a bug shared by FrameParser and the BPF parser
// cannot make this agree.
[[nodiscard]] std::optional<xlane_xdp_reason> reference_hit(packet::Bytes frame,
                                                            const SteeringModel& model);

}  // namespace xlane::test
