// ByteRing: a fixed-capacity FIFO of bytes, the storage behind a TCP send
// buffer (unacknowledged + unsent data) and receive buffer (in-order, unread).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace xlane::tcp {

class ByteRing {
  public:
    explicit ByteRing(size_t capacity = 0) : storage_(capacity) {}

    [[nodiscard]] size_t capacity() const { return storage_.size(); }
    [[nodiscard]] size_t size() const { return size_; }
    [[nodiscard]] size_t free_space() const { return storage_.size() - size_; }
    [[nodiscard]] bool empty() const { return size_ == 0; }

    // Appends as much of `bytes` as fits; returns the count appended.
    size_t write(std::span<const uint8_t> bytes) {
        const size_t n = std::min(bytes.size(), free_space());
        size_t tail = (head_ + size_) % capacity_or_one();
        size_t done = 0;
        while (done < n) {
            const size_t chunk = std::min(n - done, storage_.size() - tail);
            std::memcpy(storage_.data() + tail, bytes.data() + done, chunk);
            done += chunk;
            tail = (tail + chunk) % storage_.size();
        }
        size_ += n;
        return n;
    }

    // Copies up to out.size() bytes starting `offset` bytes after the head,
    // without consuming them; returns the count copied.
    size_t peek(size_t offset, std::span<uint8_t> out) const {
        if (offset >= size_) return 0;
        const size_t n = std::min(out.size(), size_ - offset);
        size_t pos = (head_ + offset) % storage_.size();
        size_t done = 0;
        while (done < n) {
            const size_t chunk = std::min(n - done, storage_.size() - pos);
            std::memcpy(out.data() + done, storage_.data() + pos, chunk);
            done += chunk;
            pos = (pos + chunk) % storage_.size();
        }
        return n;
    }

    // The bytes peek(offset, n) would copy, in place: one span, or two when
    // they wrap around the end of the storage. Valid until the ring changes.
    [[nodiscard]] std::array<std::span<const uint8_t>, 2> view(size_t offset, size_t n) const {
        if (offset >= size_) return {};
        n = std::min(n, size_ - offset);
        const size_t pos = (head_ + offset) % storage_.size();
        const size_t first = std::min(n, storage_.size() - pos);
        return {std::span<const uint8_t>(storage_.data() + pos, first),
                std::span<const uint8_t>(storage_.data(), n - first)};
    }

    void consume(size_t n) {
        n = std::min(n, size_);
        head_ = (head_ + n) % capacity_or_one();
        size_ -= n;
        if (size_ == 0) head_ = 0;
    }

    size_t read(std::span<uint8_t> out) {
        const size_t n = peek(0, out);
        consume(n);
        return n;
    }

    // Changes the capacity, keeping the contents; refused (false) when the
    // contents would not fit.
    bool resize(size_t capacity) {
        if (capacity < size_) return false;
        std::vector<uint8_t> next(capacity);
        peek(0, next);
        storage_ = std::move(next);
        head_ = 0;
        return true;
    }

  private:
    [[nodiscard]] size_t capacity_or_one() const { return storage_.empty() ? 1 : storage_.size(); }

    std::vector<uint8_t> storage_;
    size_t head_ = 0;
    size_t size_ = 0;
};

}  // namespace xlane::tcp
