// Reads a fuzz input front to back as a little script: fixed-width fields
// and length-prefixed byte strings, zero once the input runs out. Simpler
// than FuzzedDataProvider's back-to-front integers, so make_seeds.cpp can
// write seeds in the same order the targets read them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

// A broken invariant is a bug in the code under test: say which one and
// abort, so libFuzzer saves the input as a crash.
#define XLANE_FUZZ_REQUIRE(condition)                                                              \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #condition); \
            std::abort();                                                                          \
        }                                                                                          \
    } while (0)

namespace xlane::fuzz {

class FuzzInput {
  public:
    FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

    [[nodiscard]] bool empty() const { return pos_ >= size_; }

    uint8_t u8() { return empty() ? 0 : data_[pos_++]; }
    // Big-endian; the reads are sequenced (operands of | are not).
    uint16_t u16() {
        const uint8_t high = u8();
        return static_cast<uint16_t>((high << 8) | u8());
    }
    uint32_t u32() {
        const uint32_t high = u16();
        return (high << 16) | u16();
    }

    // A u16 length, then that many bytes (fewer when the input ends first).
    std::vector<uint8_t> bytes() {
        const size_t want = u16();
        const size_t take = std::min(want, size_ - std::min(pos_, size_));
        std::vector<uint8_t> out(data_ + pos_, data_ + pos_ + take);
        pos_ += take;
        return out;
    }

    std::string_view rest_as_text() {
        if (empty()) return {};
        std::string_view out(reinterpret_cast<const char*>(data_ + pos_), size_ - pos_);
        pos_ = size_;
        return out;
    }

  private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
};

// The writing side, for make_seeds.cpp.
class FuzzScript {
  public:
    FuzzScript& u8(uint8_t v) {
        out_.push_back(v);
        return *this;
    }
    FuzzScript& u16(uint16_t v) {
        return u8(static_cast<uint8_t>(v >> 8)).u8(static_cast<uint8_t>(v));
    }
    FuzzScript& u32(uint32_t v) {
        return u16(static_cast<uint16_t>(v >> 16)).u16(static_cast<uint16_t>(v));
    }
    FuzzScript& bytes(const std::vector<uint8_t>& b) {
        u16(static_cast<uint16_t>(b.size()));
        out_.insert(out_.end(), b.begin(), b.end());
        return *this;
    }
    FuzzScript& text(std::string_view t) {
        out_.insert(out_.end(), t.begin(), t.end());
        return *this;
    }
    [[nodiscard]] const std::vector<uint8_t>& data() const { return out_; }

  private:
    std::vector<uint8_t> out_;
};

}  // namespace xlane::fuzz
