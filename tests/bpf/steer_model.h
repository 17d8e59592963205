// The steering decision xlane_steer should make, computed in C++ from the
// FrameParser and a copy of the steering tables: the oracle the BPF program
// tests and the mutation smoke compare the kernel's verdicts against.
#pragma once

#include <cstdint>
#include <vector>

#include "packet/frame_parser.h"
#include "packet/wire.h"
#include "xlane/abi.h"

namespace xlane::test {

[[nodiscard]] xlane_bind_key bind_key(const packet::Ipv6Addr& local, uint16_t port, uint8_t proto);
[[nodiscard]] xlane_flow_key flow_key(const packet::Ipv6Addr& local, uint16_t local_port,
                                      const packet::Ipv6Addr& remote, uint16_t remote_port,
                                      uint8_t proto);
// ::ffff:0.0.0.0 and ::
[[nodiscard]] packet::Ipv6Addr any4();
[[nodiscard]] packet::Ipv6Addr any6();

struct SteeringModel {
    std::vector<xlane_flow_key> flows;
    std::vector<xlane_bind_key> binds;

    // The reason xlane_steer must count `frame` under, given whether an XSK
    // sits in the slot of the frame's RX queue.
    [[nodiscard]] xlane_xdp_reason expected_reason(packet::Bytes frame, bool xsk_present) const;
};

}  // namespace xlane::test
