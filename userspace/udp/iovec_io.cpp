// Scatter/gather copies over iovec arrays.
#include "udp/iovec_io.h"

#include <algorithm>
#include <cstring>

namespace xlane::udp {

size_t iovec_total_length(std::span<const iovec> iov) {
    size_t total = 0;
    for (const iovec& v : iov) total += v.iov_len;
    return total;
}

size_t IovecReader::read(std::span<uint8_t> out) {
    size_t done = 0;
    while (done < out.size() && index_ < iov_.size()) {
        const iovec& v = iov_[index_];
        const size_t n = std::min(out.size() - done, v.iov_len - offset_);
        // Zero-length iovecs may carry a null base; memcpy must not see it.
        if (n > 0)
            std::memcpy(out.data() + done, static_cast<const uint8_t*>(v.iov_base) + offset_, n);
        done += n;
        offset_ += n;
        if (offset_ == v.iov_len) {
            ++index_;
            offset_ = 0;
        }
    }
    return done;
}

size_t scatter_to_iovec(packet::Bytes data, std::span<const iovec> iov) {
    size_t done = 0;
    for (const iovec& v : iov) {
        if (done == data.size()) break;
        const size_t n = std::min(data.size() - done, v.iov_len);
        if (n > 0) std::memcpy(v.iov_base, data.data() + done, n);
        done += n;
    }
    return done;
}

}  // namespace xlane::udp
