// TCP segment codec. Options are laid out as Linux does (MSS, SACK-permitted
// + timestamps, NOP + window scale, NOP NOP + SACK blocks) so every option
// stays 4-byte aligned and the total is a multiple of 4 without padding.
#include "tcp/tcp_segment.h"

#include <algorithm>
#include <cstring>

#include "packet/checksum.h"

namespace xlane::tcp {
namespace {

using packet::load_be16;
using packet::load_be32;
using packet::store_be16;
using packet::store_be32;

constexpr size_t kMssLen = 4;
constexpr size_t kWindowScaleLen = 3;
constexpr size_t kSackPermittedLen = 2;
constexpr size_t kTimestampsLen = 10;
constexpr size_t kSackBlockLen = 8;

uint32_t pseudo_sum(const packet::Ipv6Addr& src, const packet::Ipv6Addr& dst, size_t length) {
    if (is_ipv4_mapped(src) && is_ipv4_mapped(dst)) {
        packet::Ipv4Addr s{}, d{};
        std::memcpy(s.data(), src.data() + 12, 4);
        std::memcpy(d.data(), dst.data() + 12, 4);
        return packet::pseudo_header_sum_v4(s, d, packet::kProtoTcp, static_cast<uint32_t>(length));
    }
    return packet::pseudo_header_sum_v6(src, dst, packet::kProtoTcp, static_cast<uint32_t>(length));
}

}  // namespace

bool is_ipv4_mapped(const packet::Ipv6Addr& addr) {
    static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(addr.data(), kPrefix, sizeof kPrefix) == 0;
}

std::string_view to_string(SegmentError error) {
    switch (error) {
        case SegmentError::kNone:
            return "ok";
        case SegmentError::kTruncated:
            return "shorter than a TCP header";
        case SegmentError::kBadDataOffset:
            return "data offset below 5 or past the segment";
        case SegmentError::kBadOptionLength:
            return "option length below 2 or past the header";
        case SegmentError::kBadChecksum:
            return "bad TCP checksum";
    }
    return "unknown";
}

size_t TcpOptions::encoded_size() const {
    size_t size = 0;
    if (mss) size += kMssLen;
    if (sack_permitted || timestamps) {
        if (sack_permitted && timestamps)
            size += kSackPermittedLen + kTimestampsLen;
        else if (timestamps)
            size += 2 + kTimestampsLen;
        else
            size += 2 + kSackPermittedLen;
    }
    if (window_scale) size += 1 + kWindowScaleLen;
    if (sack_count > 0) size += 2 + 2 + kSackBlockLen * sack_count;
    return size;
}

std::optional<TcpOptions> decode_options(packet::Bytes bytes, SegmentError* error) {
    TcpOptions options;
    size_t i = 0;
    while (i < bytes.size()) {
        const uint8_t kind = bytes[i];
        if (kind == option_kind::kEnd) break;
        if (kind == option_kind::kNop) {
            ++i;
            continue;
        }
        if (i + 1 >= bytes.size() || bytes[i + 1] < 2 || i + bytes[i + 1] > bytes.size()) {
            if (error) *error = SegmentError::kBadOptionLength;
            return std::nullopt;
        }
        const uint8_t length = bytes[i + 1];
        const uint8_t* body = bytes.data() + i + 2;
        switch (kind) {
            case option_kind::kMss:
                if (length == kMssLen) options.mss = load_be16(body);
                break;
            case option_kind::kWindowScale:
                if (length == kWindowScaleLen)
                    options.window_scale = std::min<uint8_t>(body[0], kMaxWindowScale);
                break;
            case option_kind::kSackPermitted:
                if (length == kSackPermittedLen) options.sack_permitted = true;
                break;
            case option_kind::kSack:
                if (length >= 2 + kSackBlockLen && (length - 2) % kSackBlockLen == 0) {
                    const size_t count = std::min((length - 2) / kSackBlockLen, kMaxSackBlocks);
                    for (size_t b = 0; b < count; ++b)
                        options.sack[b] = {load_be32(body + b * 8), load_be32(body + b * 8 + 4)};
                    options.sack_count = static_cast<uint8_t>(count);
                }
                break;
            case option_kind::kTimestamps:
                if (length == kTimestampsLen)
                    options.timestamps = Timestamps{load_be32(body), load_be32(body + 4)};
                break;
            default:
                break;  // unknown options are skipped by their length
        }
        i += length;
    }
    if (error) *error = SegmentError::kNone;
    return options;
}

size_t encode_options(const TcpOptions& options, std::span<uint8_t> out) {
    const size_t size = options.encoded_size();
    if (size > out.size() || size > kMaxOptionBytes) return 0;
    uint8_t* p = out.data();
    if (options.mss) {
        *p++ = option_kind::kMss;
        *p++ = kMssLen;
        store_be16(p, *options.mss);
        p += 2;
    }
    if (options.sack_permitted && options.timestamps) {
        *p++ = option_kind::kSackPermitted;
        *p++ = kSackPermittedLen;
    } else if (options.sack_permitted) {
        *p++ = option_kind::kNop;
        *p++ = option_kind::kNop;
        *p++ = option_kind::kSackPermitted;
        *p++ = kSackPermittedLen;
    } else if (options.timestamps) {
        *p++ = option_kind::kNop;
        *p++ = option_kind::kNop;
    }
    if (options.timestamps) {
        *p++ = option_kind::kTimestamps;
        *p++ = kTimestampsLen;
        store_be32(p, options.timestamps->value);
        store_be32(p + 4, options.timestamps->echo);
        p += 8;
    }
    if (options.window_scale) {
        *p++ = option_kind::kNop;
        *p++ = option_kind::kWindowScale;
        *p++ = kWindowScaleLen;
        *p++ = *options.window_scale;
    }
    if (options.sack_count > 0) {
        *p++ = option_kind::kNop;
        *p++ = option_kind::kNop;
        *p++ = option_kind::kSack;
        *p++ = static_cast<uint8_t>(2 + kSackBlockLen * options.sack_count);
        for (size_t b = 0; b < options.sack_count; ++b) {
            store_be32(p, options.sack[b].left);
            store_be32(p + 4, options.sack[b].right);
            p += 8;
        }
    }
    return size;
}

DecodedSegment decode_segment(packet::Bytes l4, const packet::Ipv6Addr& src,
                              const packet::Ipv6Addr& dst, bool verify_checksum) {
    DecodedSegment out;
    if (l4.size() < packet::kTcpHeaderLen) {
        out.error = SegmentError::kTruncated;
        return out;
    }
    const size_t header_len = size_t{static_cast<uint8_t>(l4[12] >> 4)} * 4;
    if (header_len < packet::kTcpHeaderLen || header_len > l4.size()) {
        out.error = SegmentError::kBadDataOffset;
        return out;
    }
    if (verify_checksum && !packet::checksum_ok(l4, pseudo_sum(src, dst, l4.size()))) {
        out.error = SegmentError::kBadChecksum;
        return out;
    }
    auto& h = out.segment.header;
    h.src_port = load_be16(l4.data());
    h.dst_port = load_be16(l4.data() + 2);
    h.seq = load_be32(l4.data() + 4);
    h.ack = load_be32(l4.data() + 8);
    h.flags = l4[13] & 0x3f;
    h.window = load_be16(l4.data() + 14);
    h.urgent = load_be16(l4.data() + 18);
    auto options = decode_options(
        l4.subspan(packet::kTcpHeaderLen, header_len - packet::kTcpHeaderLen), &out.error);
    if (!options) return out;
    out.segment.options = *options;
    out.segment.payload = l4.subspan(header_len);
    return out;
}

size_t encoded_segment_size(const TcpOptions& options, size_t payload_size) {
    return packet::kTcpHeaderLen + options.encoded_size() + payload_size;
}

size_t encode_segment(const SegmentHeader& header, const TcpOptions& options, PayloadParts payload,
                      const packet::Ipv6Addr& src, const packet::Ipv6Addr& dst,
                      std::span<uint8_t> out) {
    const size_t options_len = options.encoded_size();
    const size_t total = packet::kTcpHeaderLen + options_len + payload.size();
    if (options_len > kMaxOptionBytes || total > out.size()) return 0;
    uint8_t* p = out.data();
    store_be16(p, header.src_port);
    store_be16(p + 2, header.dst_port);
    store_be32(p + 4, header.seq);
    store_be32(p + 8, header.ack);
    p[12] = static_cast<uint8_t>(((packet::kTcpHeaderLen + options_len) / 4) << 4);
    p[13] = header.flags;
    store_be16(p + 14, header.window);
    store_be16(p + 16, 0);
    store_be16(p + 18, header.urgent);
    encode_options(options, out.subspan(packet::kTcpHeaderLen, options_len));
    // Header and options (a multiple of 4 bytes, so the sums chain), then the
    // payload summed as it is copied in: read once, never read back.
    const size_t header_len = packet::kTcpHeaderLen + options_len;
    uint32_t sum = packet::checksum_add(out.first(header_len), pseudo_sum(src, dst, total));
    uint8_t* body = p + header_len;
    if (payload.tail.empty() || payload.head.size() % 2 == 0) {
        if (!payload.head.empty()) sum = packet::copy_and_checksum_add(body, payload.head, sum);
        if (!payload.tail.empty())
            sum = packet::copy_and_checksum_add(body + payload.head.size(), payload.tail, sum);
    } else {
        // An odd split (a send buffer's wrap, rare) would break the chained
        // sum's 16-bit alignment: copy both parts, then sum them as one.
        std::memcpy(body, payload.head.data(), payload.head.size());
        std::memcpy(body + payload.head.size(), payload.tail.data(), payload.tail.size());
        sum = packet::checksum_add(packet::Bytes(body, payload.size()), sum);
    }
    store_be16(p + 16, static_cast<uint16_t>(~packet::checksum_fold(sum)));
    return total;
}

}  // namespace xlane::tcp
