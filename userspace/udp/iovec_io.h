// Copies between scatter/gather arrays (struct iovec, any count) and flat
// bytes: the sendmsg side gathers payload into frames, recvmsg scatters out.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "packet/wire.h"

namespace xlane::udp {

// Sum of iov_len over the array.
[[nodiscard]] size_t iovec_total_length(std::span<const iovec> iov);

// Reads an iovec array front to back in pieces of any size, so a payload can
// be spread over fragments whose boundaries ignore the caller's iovec ones.
class IovecReader {
  public:
    explicit IovecReader(std::span<const iovec> iov) : iov_(iov) {}
    // Copies up to out.size() bytes; returns how many (fewer only at the end).
    size_t read(std::span<uint8_t> out);

  private:
    std::span<const iovec> iov_;
    size_t index_ = 0;   // current iovec
    size_t offset_ = 0;  // bytes of it already read
};

// Copies `data` into the iovec array in order; returns the bytes copied,
// which is less than data.size() when the array is too small (the caller
// reports truncation, as recvmsg does with MSG_TRUNC).
size_t scatter_to_iovec(packet::Bytes data, std::span<const iovec> iov);

}  // namespace xlane::udp
