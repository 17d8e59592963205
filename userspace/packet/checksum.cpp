// Internet checksum arithmetic (RFC 1071, RFC 1624).
#include "packet/checksum.h"

namespace xlane::packet {

uint32_t checksum_add(Bytes data, uint32_t sum) {
    // A 64-bit accumulator cannot overflow for any frame size we handle.
    uint64_t acc = sum;
    size_t i = 0;
    for (; i + 1 < data.size(); i += 2) acc += load_be16(&data[i]);
    if (i < data.size()) acc += uint32_t{data[i]} << 8;
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
