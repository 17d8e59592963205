// TCP frame encoding: an OutSegment wrapped in Ethernet and IPv4/IPv6 headers
// with all checksums in software, for raw-socket and AF_XDP transmit paths.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "packet/wire.h"
#include "tcp/tcp_connection.h"

namespace xlane::tcp {

struct FrameAddressing {
    packet::MacAddr src_mac{};
    packet::MacAddr dst_mac{};
    uint8_t ttl = 64;  // IPv4 TTL / IPv6 hop limit
    uint8_t tos = 0;   // IPv4 TOS / IPv6 traffic class
};

[[nodiscard]] size_t encoded_frame_size(const OutSegment& segment);

// Writes the frame into `out`; returns its length, 0 when `out` is too small
// or the addresses mix families. IPv4 frames carry DF (TCP does its own
// segmentation) and `ip_id`.
size_t encode_frame(const OutSegment& segment, const FrameAddressing& addressing, uint16_t ip_id,
                    std::span<uint8_t> out);
// The same with the payload given apart (TcpConnection::pop_output's views).
size_t encode_frame(const OutSegment& segment, PayloadParts payload,
                    const FrameAddressing& addressing, uint16_t ip_id, std::span<uint8_t> out);

}  // namespace xlane::tcp
