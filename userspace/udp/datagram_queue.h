// DatagramQueue: a UDP socket's receive queue, bounded like SO_RCVBUF, with
// what recvmsg() reports per datagram (source, IP_PKTINFO, timestamp) and its
// peek and MSG_TRUNC behaviour.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "packet/wire.h"

namespace xlane::udp {

// Per-datagram facts recvmsg() can report. Addresses are IPv4-mapped for IPv4.
struct DatagramMeta {
    packet::Ipv6Addr src_addr{};  // msg_name
    packet::Ipv6Addr dst_addr{};  // IP_PKTINFO ipi_addr / IPV6_PKTINFO ipi6_addr
    uint16_t src_port = 0;        // host order
    uint16_t dst_port = 0;
    uint32_t ifindex = 0;          // IP_PKTINFO ipi_ifindex / IPV6_PKTINFO ipi6_ifindex
    uint64_t rx_timestamp_ns = 0;  // SO_TIMESTAMP / SO_TIMESTAMPNS, caller's clock
};

// One recvmsg()'s worth: the datagram's facts, its full length and how much
// of it fitted in the caller's iovecs.
struct ReceivedDatagram {
    DatagramMeta meta;
    size_t length = 0;  // full payload length
    size_t copied = 0;  // bytes written to the iovecs
    [[nodiscard]] bool truncated() const { return copied < length; }
    // recvmsg()'s return value: the full length when the caller passed
    // MSG_TRUNC (Linux UDP), else what was copied. MSG_TRUNC goes into
    // msg_flags whenever truncated().
    [[nodiscard]] size_t return_value(bool msg_trunc_requested) const {
        return msg_trunc_requested ? length : copied;
    }
};

struct DatagramQueueCounters {
    uint64_t queued = 0;   // datagrams accepted
    uint64_t dropped = 0;  // datagrams refused: queue over budget (SO_RXQ_OVFL)
};

// Accounting: each datagram is charged charge_for(payload) bytes, exactly the
// storage its record takes here (a fixed header plus the payload rounded up
// to 8). Linux charges the skb's truesize instead (payload plus ~0.5-1 KiB
// of metadata), so for small datagrams this queue holds more than the
// kernel would under the same budget, never fewer. Admission follows
// __udp_enqueue_schedule_skb(): a datagram is refused only when the bytes
// already queued exceed the budget, so the queue may overshoot by one datagram
// and a tiny budget still admits one. The budget is the value getsockopt
// (SO_RCVBUF) reports, i.e. twice what the application set.
//
// Storage is one ring allocated at the first push() and sized from the
// budget (budget + two largest records), so that any admitted datagram fits
// and the receive hot path never allocates; set_budget() re-allocates only
// when the budget grows. FIFO, single-threaded (the socket's lock is the
// caller's business).
class DatagramQueue {
  public:
    static constexpr size_t kMaxPayload = 65535;

    explicit DatagramQueue(size_t budget_bytes) : budget_(budget_bytes) {}
    DatagramQueue(const DatagramQueue&) = delete;
    DatagramQueue& operator=(const DatagramQueue&) = delete;

    // Bytes a datagram with this payload is charged.
    [[nodiscard]] static size_t charge_for(size_t payload_len);

    // Queues a copy of the datagram; false when it was dropped (over budget,
    // or a payload above kMaxPayload, which no UDP datagram has).
    bool push(const DatagramMeta& meta, packet::Bytes payload);

    // Copies the first datagram into `iov` (any count; the rest of a longer
    // datagram is discarded, as UDP does) and removes it unless `peek`
    // (MSG_PEEK). nullopt when empty (EAGAIN).
    [[nodiscard]] std::optional<ReceivedDatagram> receive(std::span<const iovec> iov, bool peek);

    // The first datagram, without copying: valid until the next push/pop/set_budget.
    [[nodiscard]] std::optional<DatagramMeta> front_meta() const;
    [[nodiscard]] packet::Bytes front_payload() const;
    void pop();

    [[nodiscard]] bool empty() const { return count_ == 0; }
    [[nodiscard]] size_t size() const { return count_; }
    // FIONREAD / SIOCINQ on a UDP socket: the first datagram's payload length.
    [[nodiscard]] size_t next_length() const { return front_payload().size(); }
    [[nodiscard]] size_t bytes_charged() const { return charged_; }
    [[nodiscard]] size_t budget() const { return budget_; }
    // SO_RCVBUF: queued datagrams stay; only later admission changes.
    void set_budget(size_t budget_bytes);
    [[nodiscard]] const DatagramQueueCounters& counters() const { return counters_; }

  private:
    struct RecordHeader {
        DatagramMeta meta;
        uint32_t payload_length;
        uint32_t record_size;
    };
    static constexpr size_t kRecordHeaderSize = (sizeof(RecordHeader) + 7) & ~size_t{7};
    static constexpr size_t kMaxRecord = kRecordHeaderSize + ((kMaxPayload + 7) & ~size_t{7});

    [[nodiscard]] static size_t capacity_for(size_t budget) { return budget + 2 * kMaxRecord; }
    [[nodiscard]] RecordHeader front_header() const;
    // Offset where a record of `size` bytes goes, or nullopt when none fits.
    [[nodiscard]] std::optional<size_t> place(size_t size);
    void grow(size_t capacity);

    size_t budget_;
    std::unique_ptr<uint8_t[]> ring_;
    size_t capacity_ = 0;
    // Records live in [head_, tail_), or, once wrapped_, in [head_, wrap_end_)
    // followed by [0, tail_); the space past wrap_end_ is unused.
    size_t head_ = 0;
    size_t tail_ = 0;
    size_t wrap_end_ = 0;
    bool wrapped_ = false;
    size_t count_ = 0;
    size_t charged_ = 0;
    DatagramQueueCounters counters_;
};

}  // namespace xlane::udp
