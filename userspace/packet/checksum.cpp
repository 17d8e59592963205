// Internet checksum arithmetic (RFC 1071, RFC 1624).
#include "packet/checksum.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>

namespace xlane::packet {

namespace {

// The ones'-complement sum commutes with byte swapping (RFC 1071 section
// 2(B)): the sum of native-order 16-bit words, folded to 16 bits and swapped
// once, equals the sum of big-endian words. Both sums below are of native
// words, over a prefix whose length is a multiple of their block.

#if defined(__x86_64__)
// 64 bytes per step: each 32-bit lane of two AVX2 accumulators takes the two
// 16-bit words of its lane of a load. A lane grows by less than 2^17 a step,
// so the accumulators are emptied into 64 bits every 16384 steps (1 MiB).
// With `copy_to`, each block is also stored there as it goes: the bytes are
// read once, and the stores (to cold UMEM frames, mostly) never read back.
__attribute__((target("avx2"))) uint64_t native_sum_avx2(const uint8_t* bytes, size_t blocks,
                                                         uint8_t* copy_to) {
    const __m256i low_words = _mm256_set1_epi32(0xffff);
    uint64_t total = 0;
    while (blocks > 0) {
        const size_t steps = std::min<size_t>(blocks, 16384);
        __m256i a = _mm256_setzero_si256();
        __m256i b = _mm256_setzero_si256();
        for (size_t i = 0; i < steps; ++i, bytes += 64) {
            const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bytes));
            const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bytes + 32));
            if (copy_to != nullptr) {  // the same branch every step: predicted
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(copy_to), x);
                _mm256_storeu_si256(reinterpret_cast<__m256i*>(copy_to + 32), y);
                copy_to += 64;
            }
            a = _mm256_add_epi32(
                a, _mm256_add_epi32(_mm256_and_si256(x, low_words), _mm256_srli_epi32(x, 16)));
            b = _mm256_add_epi32(
                b, _mm256_add_epi32(_mm256_and_si256(y, low_words), _mm256_srli_epi32(y, 16)));
        }
        // Widen before adding the two: each lane may be near 2^31.
        const __m256i wide = _mm256_add_epi64(
            _mm256_add_epi64(_mm256_cvtepu32_epi64(_mm256_castsi256_si128(a)),
                             _mm256_cvtepu32_epi64(_mm256_extracti128_si256(a, 1))),
            _mm256_add_epi64(_mm256_cvtepu32_epi64(_mm256_castsi256_si128(b)),
                             _mm256_cvtepu32_epi64(_mm256_extracti128_si256(b, 1))));
        alignas(32) uint64_t lanes[4];
        _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), wide);
        total += lanes[0] + lanes[1] + lanes[2] + lanes[3];
        blocks -= steps;
    }
    return total;
}

bool cpu_has_avx2() {
    // 0: not asked yet, 1: no, 2: yes. __builtin_cpu_init() makes the answer
    // right even before libgcc's own constructor ran (a wrapper called from
    // another library's constructor).
    static std::atomic<int> known{0};
    int state = known.load(std::memory_order_relaxed);
    if (state == 0) {
        __builtin_cpu_init();
        state = __builtin_cpu_supports("avx2") ? 2 : 1;
        known.store(state, std::memory_order_relaxed);
    }
    return state == 2;
}
#endif

// The rest of a sum whose first `i` bytes (a multiple of 8) gave `native`.
uint32_t finish_sum(const uint8_t* bytes, size_t size, size_t i, uint64_t native, uint32_t sum) {
    // Eight bytes per step, as two 32-bit halves (< 2^33 per step: a 64-bit
    // sum cannot overflow for any span a caller has).
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

// checksum_add(), copying `data` to `copy_to` on the way when it is set.
uint32_t sum_copying(Bytes data, uint32_t sum, uint8_t* copy_to) {
    size_t done = 0;
    uint64_t native = 0;
#if defined(__x86_64__)
    if (data.size() >= 128 && cpu_has_avx2()) {
        native = native_sum_avx2(data.data(), data.size() / 64, copy_to);
        done = data.size() / 64 * 64;
    }
#endif
    if (copy_to != nullptr && done < data.size())
        std::memcpy(copy_to + done, data.data() + done, data.size() - done);
    return finish_sum(data.data(), data.size(), done, native, sum);
}

}  // namespace

uint32_t checksum_add(Bytes data, uint32_t sum) {
    // (A 16-bit loop was a tenth of a bulk TCP transfer's CPU; a 64-bit one
    // whose lanes the compiler kept on the stack, 8% of the sender's.)
    return sum_copying(data, sum, nullptr);
}

uint32_t copy_and_checksum_add(uint8_t* out, Bytes data, uint32_t sum) {
    return sum_copying(data, sum, out);
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
