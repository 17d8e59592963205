// DatagramQueue: a byte ring of variable-size records. Its capacity (budget
// plus two largest records) guarantees room for any admitted datagram: the
// bytes queued before admission are at most the budget, and wrapping wastes
// less than one record at the end of the ring.
#include "udp/datagram_queue.h"

#include <cstring>

#include "udp/iovec_io.h"

namespace xlane::udp {

size_t DatagramQueue::charge_for(size_t payload_len) {
    return kRecordHeaderSize + ((payload_len + 7) & ~size_t{7});
}

bool DatagramQueue::push(const DatagramMeta& meta, packet::Bytes payload) {
    if (payload.size() > kMaxPayload || charged_ > budget_) {
        ++counters_.dropped;
        return false;
    }
    const size_t size = charge_for(payload.size());
    const std::optional<size_t> offset = place(size);
    if (!offset) {  // unreachable given the capacity; refusing beats corrupting
        ++counters_.dropped;
        return false;
    }
    RecordHeader header{meta, static_cast<uint32_t>(payload.size()), static_cast<uint32_t>(size)};
    std::memcpy(ring_.get() + *offset, &header, sizeof(header));
    if (!payload.empty())
        std::memcpy(ring_.get() + *offset + kRecordHeaderSize, payload.data(), payload.size());
    ++count_;
    charged_ += size;
    ++counters_.queued;
    return true;
}

std::optional<size_t> DatagramQueue::place(size_t size) {
    if (!ring_) grow(capacity_for(budget_));
    if (!wrapped_) {
        if (tail_ + size <= capacity_) {
            const size_t offset = tail_;
            tail_ += size;
            return offset;
        }
        if (size <= head_) {
            wrap_end_ = tail_;
            wrapped_ = true;
            tail_ = size;
            return 0;
        }
        return std::nullopt;
    }
    if (tail_ + size <= head_) {
        const size_t offset = tail_;
        tail_ += size;
        return offset;
    }
    return std::nullopt;
}

DatagramQueue::RecordHeader DatagramQueue::front_header() const {
    RecordHeader header;
    std::memcpy(&header, ring_.get() + head_, sizeof(header));
    return header;
}

std::optional<DatagramMeta> DatagramQueue::front_meta() const {
    if (empty()) return std::nullopt;
    return front_header().meta;
}

packet::Bytes DatagramQueue::front_payload() const {
    if (empty()) return {};
    return packet::Bytes(ring_.get() + head_ + kRecordHeaderSize, front_header().payload_length);
}

void DatagramQueue::pop() {
    if (empty()) return;
    const RecordHeader header = front_header();
    head_ += header.record_size;
    charged_ -= header.record_size;
    if (--count_ == 0) {
        // Empty: start again at the bottom, which keeps records unwrapped longer.
        head_ = tail_ = wrap_end_ = 0;
        wrapped_ = false;
    } else if (wrapped_ && head_ == wrap_end_) {
        head_ = 0;
        wrapped_ = false;
    }
}

std::optional<ReceivedDatagram> DatagramQueue::receive(std::span<const iovec> iov, bool peek) {
    if (empty()) return std::nullopt;
    const RecordHeader header = front_header();
    ReceivedDatagram out;
    out.meta = header.meta;
    out.length = header.payload_length;
    out.copied = scatter_to_iovec(front_payload(), iov);
    if (!peek) pop();
    return out;
}

void DatagramQueue::set_budget(size_t budget_bytes) {
    budget_ = budget_bytes;
    if (ring_ && capacity_for(budget_) > capacity_) grow(capacity_for(budget_));
}

void DatagramQueue::grow(size_t capacity) {
    // Default-initialised: a large budget should not cost a memset.
    std::unique_ptr<uint8_t[]> ring(new uint8_t[capacity]);
    size_t used = 0;
    // Records in queue order, laid out from the bottom of the new ring.
    auto copy = [&](size_t from, size_t to) {
        std::memcpy(ring.get() + used, ring_.get() + from, to - from);
        used += to - from;
    };
    if (count_ > 0) {
        if (wrapped_) {
            copy(head_, wrap_end_);
            copy(0, tail_);
        } else {
            copy(head_, tail_);
        }
    }
    ring_ = std::move(ring);
    capacity_ = capacity;
    head_ = 0;
    tail_ = used;
    wrap_end_ = 0;
    wrapped_ = false;
}

}  // namespace xlane::udp
