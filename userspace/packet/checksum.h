// Internet checksum (RFC 1071), its incremental update (RFC 1624) and the
// IPv4/IPv6 pseudo-header sums that UDP and TCP checksums start from.
#pragma once

#include <cstdint>

#include "packet/wire.h"

namespace xlane::packet {

// One's-complement sum of `data` as big-endian 16-bit words (an odd last
// byte is padded with zero), added to `sum`. Not folded: sums of several
// pieces can be chained, provided every piece but the last has even length.
[[nodiscard]] uint32_t checksum_add(Bytes data, uint32_t sum = 0);

// checksum_add(data, sum), copying `data` to `out` (data.size() bytes, not
// overlapping it) in the same pass: a frame's payload is read once.
[[nodiscard]] uint32_t copy_and_checksum_add(uint8_t* out, Bytes data, uint32_t sum = 0);

// Folds a 32-bit partial sum to 16 bits (end-around carry).
[[nodiscard]] uint16_t checksum_fold(uint32_t sum);

// The checksum field value: ~fold(sum of data + initial).
[[nodiscard]] uint16_t internet_checksum(Bytes data, uint32_t initial = 0);

// True when data that contains its own checksum field sums to 0xffff.
[[nodiscard]] bool checksum_ok(Bytes data, uint32_t initial = 0);

// RFC 1624 eqn. 3: the checksum field after one 16-bit word of the covered
// data changed from old_word to new_word (HC' = ~(~HC + ~m + m')).
[[nodiscard]] uint16_t checksum_update16(uint16_t old_checksum, uint16_t old_word,
                                         uint16_t new_word);
// Same for a 32-bit field (an IPv4 address, a TCP sequence number).
[[nodiscard]] uint16_t checksum_update32(uint16_t old_checksum, uint32_t old_value,
                                         uint32_t new_value);

// Pseudo-header partial sums (RFC 768 / RFC 9293 for IPv4, RFC 8200 §8.1 for
// IPv6); `l4_length` is the UDP/TCP header plus payload length.
[[nodiscard]] uint32_t pseudo_header_sum_v4(const Ipv4Addr& src, const Ipv4Addr& dst,
                                            uint8_t protocol, uint32_t l4_length);
[[nodiscard]] uint32_t pseudo_header_sum_v6(const Ipv6Addr& src, const Ipv6Addr& dst,
                                            uint8_t next_header, uint32_t l4_length);

}  // namespace xlane::packet
