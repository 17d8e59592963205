// TCP segment codec: header fields and options (RFC 9293, RFC 7323 window
// scale and timestamps, RFC 2018 SACK) to and from the bytes after the IP header.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "packet/wire.h"

namespace xlane::tcp {

namespace option_kind {
inline constexpr uint8_t kEnd = 0;
inline constexpr uint8_t kNop = 1;
inline constexpr uint8_t kMss = 2;
inline constexpr uint8_t kWindowScale = 3;
inline constexpr uint8_t kSackPermitted = 4;
inline constexpr uint8_t kSack = 5;
inline constexpr uint8_t kTimestamps = 8;
}  // namespace option_kind

// RFC 7323 §2.3: shifts above 14 are treated as 14.
inline constexpr uint8_t kMaxWindowScale = 14;
// 40 option bytes hold at most 4 SACK blocks (3 next to timestamps).
inline constexpr size_t kMaxSackBlocks = 4;
inline constexpr size_t kMaxOptionBytes = 40;

struct SackBlock {
    uint32_t left = 0;   // first sequence number of the block
    uint32_t right = 0;  // one past the last
    friend bool operator==(const SackBlock&, const SackBlock&) = default;
};

struct Timestamps {
    uint32_t value = 0;  // TSval
    uint32_t echo = 0;   // TSecr
    friend bool operator==(const Timestamps&, const Timestamps&) = default;
};

// The options xlane understands; unknown options are skipped on decode.
struct TcpOptions {
    std::optional<uint16_t> mss;
    std::optional<uint8_t> window_scale;
    bool sack_permitted = false;
    std::optional<Timestamps> timestamps;
    std::array<SackBlock, kMaxSackBlocks> sack{};
    uint8_t sack_count = 0;

    // Bytes encode_options() writes (a multiple of 4, at most 40).
    [[nodiscard]] size_t encoded_size() const;
    [[nodiscard]] std::span<const SackBlock> sack_blocks() const {
        return {sack.data(), sack_count};
    }
};

// Why options or a segment were refused. Refused input is dropped whole:
// a length that runs past the header could make every later field garbage.
enum class SegmentError : uint8_t {
    kNone = 0,
    kTruncated,        // shorter than 20 bytes
    kBadDataOffset,    // data offset < 5 or past the end
    kBadOptionLength,  // an option length < 2 or past the option space
    kBadChecksum,
};
[[nodiscard]] std::string_view to_string(SegmentError error);

// Decodes the option bytes of a header. Known options with a wrong length are
// ignored (as Linux does); a length byte that is < 2 or overruns the option
// space refuses the whole segment.
[[nodiscard]] std::optional<TcpOptions> decode_options(packet::Bytes bytes,
                                                       SegmentError* error = nullptr);
// Writes options in Linux's layout (so captures compare easily); returns the
// bytes written, 0 when `out` is smaller than encoded_size().
size_t encode_options(const TcpOptions& options, std::span<uint8_t> out);

// TCP flag bits: the packet codec's, under the short name this code uses.
namespace flags = packet::tcp_flags;

struct SegmentHeader {
    uint16_t src_port = 0;  // host order
    uint16_t dst_port = 0;
    uint32_t seq = 0;
    uint32_t ack = 0;
    uint8_t flags = 0;
    uint16_t window = 0;  // as on the wire (unscaled)
    uint16_t urgent = 0;

    [[nodiscard]] bool has(uint8_t flag) const { return (flags & flag) != 0; }
};

// A received segment; `payload` points into the caller's frame.
struct Segment {
    SegmentHeader header;
    TcpOptions options;
    packet::Bytes payload;

    // Sequence space the segment occupies: payload plus one each for SYN, FIN.
    [[nodiscard]] uint32_t seq_length() const {
        return static_cast<uint32_t>(payload.size()) + (header.has(flags::kSyn) ? 1 : 0) +
               (header.has(flags::kFin) ? 1 : 0);
    }
};

struct DecodedSegment {
    SegmentError error = SegmentError::kNone;
    Segment segment;
    [[nodiscard]] bool ok() const { return error == SegmentError::kNone; }
};

// `l4` is the TCP header and payload (the IP payload); addresses are
// IPv4-mapped for IPv4 and select the pseudo-header family.
[[nodiscard]] DecodedSegment decode_segment(packet::Bytes l4, const packet::Ipv6Addr& src,
                                            const packet::Ipv6Addr& dst,
                                            bool verify_checksum = true);

// A payload to encode: one span, or two when it wraps around the end of a
// send buffer (ByteRing::view).
struct PayloadParts {
    packet::Bytes head;
    packet::Bytes tail;
    [[nodiscard]] size_t size() const { return head.size() + tail.size(); }
};

[[nodiscard]] size_t encoded_segment_size(const TcpOptions& options, size_t payload_size);
// Header, options, payload and checksum into `out`; returns the bytes
// written, 0 when `out` is too small.
size_t encode_segment(const SegmentHeader& header, const TcpOptions& options, PayloadParts payload,
                      const packet::Ipv6Addr& src, const packet::Ipv6Addr& dst,
                      std::span<uint8_t> out);
inline size_t encode_segment(const SegmentHeader& header, const TcpOptions& options,
                             packet::Bytes payload, const packet::Ipv6Addr& src,
                             const packet::Ipv6Addr& dst, std::span<uint8_t> out) {
    return encode_segment(header, options, PayloadParts{payload, {}}, src, dst, out);
}

[[nodiscard]] bool is_ipv4_mapped(const packet::Ipv6Addr& addr);

}  // namespace xlane::tcp
