// Internet checksum arithmetic (RFC 1071, RFC 1624).
#include "packet/checksum.h"

#include <bit>
#include <cstring>

namespace xlane::packet {

uint32_t checksum_add(Bytes data, uint32_t sum) {
    // Eight bytes per step in host order: the ones'-complement sum commutes
    // with byte swapping (RFC 1071 section 2(B)), so the native sum, folded
    // to 16 bits and swapped once, equals the sum of big-endian 16-bit
    // words. (A 16-bit loop was a tenth of a bulk TCP transfer's CPU.)
    const uint8_t* bytes = data.data();
    const size_t size = data.size();
    // Four independent accumulators keep the adds from waiting on each other.
    uint64_t lanes[4] = {0, 0, 0, 0};
    size_t i = 0;
    for (; i + 32 <= size; i += 32) {
        uint64_t words[4];
        std::memcpy(words, bytes + i, sizeof(words));
        for (int lane = 0; lane < 4; ++lane)  // < 2^33 per step: no overflow
            lanes[lane] += (words[lane] & 0xffffffff) + (words[lane] >> 32);
    }
    uint64_t native = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    for (; i + 8 <= size; i += 8) {
        uint64_t word;
        std::memcpy(&word, bytes + i, sizeof(word));
        native += (word & 0xffffffff) + (word >> 32);
    }
    while (native >> 16) native = (native & 0xffff) + (native >> 16);
    uint64_t acc = sum;
    if constexpr (std::endian::native == std::endian::little)
        acc += static_cast<uint16_t>((native << 8 | native >> 8) & 0xffff);
    else
        acc += native;
    for (; i + 1 < size; i += 2) acc += load_be16(&bytes[i]);
    if (i < size) acc += uint32_t{bytes[i]} << 8;
    while (acc >> 32) acc = (acc & 0xffffffff) + (acc >> 32);
    return static_cast<uint32_t>(acc);
}

uint16_t checksum_fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}

uint16_t internet_checksum(Bytes data, uint32_t initial) {
    return static_cast<uint16_t>(~checksum_fold(checksum_add(data, initial)));
}

bool checksum_ok(Bytes data, uint32_t initial) {
    return checksum_fold(checksum_add(data, initial)) == 0xffff;
}

uint16_t checksum_update16(uint16_t old_checksum, uint16_t old_word, uint16_t new_word) {
    uint32_t sum = static_cast<uint16_t>(~old_checksum);
    sum += static_cast<uint16_t>(~old_word);
    sum += new_word;
    return static_cast<uint16_t>(~checksum_fold(sum));
}

uint16_t checksum_update32(uint16_t old_checksum, uint32_t old_value, uint32_t new_value) {
    const uint16_t high = checksum_update16(old_checksum, static_cast<uint16_t>(old_value >> 16),
                                            static_cast<uint16_t>(new_value >> 16));
    return checksum_update16(high, static_cast<uint16_t>(old_value),
                             static_cast<uint16_t>(new_value));
}

uint32_t pseudo_header_sum_v4(const Ipv4Addr& src, const Ipv4Addr& dst, uint8_t protocol,
                              uint32_t l4_length) {
    uint32_t sum = checksum_add(src);
    sum = checksum_add(dst, sum);
    return sum + protocol + (l4_length & 0xffff) + (l4_length >> 16);
}

uint32_t pseudo_header_sum_v6(const Ipv6Addr& src, const Ipv6Addr& dst, uint8_t next_header,
                              uint32_t l4_length) {
    uint32_t sum = checksum_add(src);
    sum = checksum_add(dst, sum);
    return sum + next_header + (l4_length & 0xffff) + (l4_length >> 16);
}

}  // namespace xlane::packet
