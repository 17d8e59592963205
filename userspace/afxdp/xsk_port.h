// XskPort: one AF_XDP socket bound to (interface, RX queue) with its own
// UMEM, RX and TX rings; batched receive and transmit for the user-space stack.
#pragma once

#include <xdp/xsk.h>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "afxdp/umem.h"
#include "common/result.h"

namespace xlane::afxdp {

enum class XskMode {
    kCopy,      // XDP_COPY: works on any device (veth, lo, generic XDP)
    kZeroCopy,  // XDP_ZEROCOPY: the driver must support it, else bind fails
};

struct XskPortConfig {
    uint32_t ifindex = 0;
    uint32_t queue = 0;
    XskMode mode = XskMode::kCopy;
    uint32_t rx_size = XSK_RING_CONS__DEFAULT_NUM_DESCS;
    uint32_t tx_size = XSK_RING_PROD__DEFAULT_NUM_DESCS;
    // XDP_USE_NEED_WAKEUP: the kernel says when it needs a syscall to make
    // progress, so a busy ring costs no syscalls.
    bool need_wakeup = true;
    // XDP_USE_SG: a frame larger than a UMEM frame (jumbo MTU; GRO and GSO
    // super-frames in generic XDP) arrives as a chain of descriptors, which
    // receive() joins, instead of being dropped by the kernel. Bound without
    // it when the kernel (before 6.6) or a zero-copy driver refuses it.
    bool multi_buffer = true;
    // > 0: SO_PREFER_BUSY_POLL + SO_BUSY_POLL (usecs) + SO_BUSY_POLL_BUDGET.
    uint32_t busy_poll_usecs = 0;
    uint32_t busy_poll_budget = 64;
    // Deferred TX wake-ups (TxWakeup::kWhenIdle): in copy mode every
    // wake-up is a sendto() that transmits at most 32 frames, so frames
    // queued back to back (less than tx_defer_window_ns after the previous
    // ones) wait until tx_kick_batch are pending or the oldest has waited
    // tx_defer_window_ns; the owner flushes before it blocks or polls.
    uint32_t tx_kick_batch = 32;
    uint64_t tx_defer_window_ns = 50'000;
    UmemConfig umem;
};

// When queue_tx() wakes the kernel to transmit.
enum class TxWakeup {
    kNow,
    kWhenIdle,  // now, unless frames come back to back (see XskPortConfig)
    kLater,     // more frames follow at once: only when tx_kick_batch are pending
};

// A UMEM frame taken for transmission: the caller writes the frame into
// `buffer` and sets `length` before queue_tx().
struct TxFrame {
    uint64_t addr = 0;
    std::span<uint8_t> buffer;
    uint32_t length = 0;
};

// A received frame: owned by the caller until recycle(addr). A frame that
// came as a chain of descriptors is joined into a buffer of the port: its
// addr is kJoinedFrame, and its data lives until the next receive().
struct RxFrame {
    uint64_t addr;
    std::span<uint8_t> data;
};
inline constexpr uint64_t kJoinedFrame = ~uint64_t{0};

// Single owner: the RX and TX rings (and the UMEM's fill and completion
// rings) are single-producer/single-consumer without locks, so one thread at
// a time drives a port. The port never loads an XDP program (libxdp's default
// program is inhibited): xlane's own program redirects into it once fd() is
// in the xlane_xsks map under the queue index.
class XskPort {
  public:
    [[nodiscard]] static Result<std::unique_ptr<XskPort>> open(const XskPortConfig& config);
    ~XskPort();
    // libxdp keeps pointers to the ring structs inside this object.
    XskPort(const XskPort&) = delete;
    XskPort& operator=(const XskPort&) = delete;

    // The socket fd: the value to store in xlane_xsks[queue].
    [[nodiscard]] int fd() const;
    [[nodiscard]] const XskPortConfig& config() const { return config_; }
    [[nodiscard]] Umem& umem() { return *umem_; }
    // The largest frame one UMEM frame carries out: what a frame to send,
    // Ethernet header included, must fit in.
    [[nodiscard]] uint32_t tx_frame_room() const {
        return umem_->config().frame_size - XSK_UMEM__DEFAULT_FRAME_HEADROOM;
    }

    // Tops up the fill ring from free frames and wakes the kernel if it
    // asked to be; returns frames added.
    uint32_t refill();
    // Takes up to out.size() frames off the RX ring (refilling afterwards).
    // The descriptors of a multi-buffer frame are joined into one RxFrame;
    // the UMEM frames they used are free again at once.
    [[nodiscard]] size_t receive(std::span<RxFrame> out);
    // Gives received frames back to the UMEM.
    void recycle(uint64_t addr) {
        if (addr != kJoinedFrame) umem_->free_frame(addr);
    }
    // Whether the socket was bound with XDP_USE_SG (see XskPortConfig).
    [[nodiscard]] bool multi_buffer() const { return multi_buffer_; }
    // Frames that came as a chain of descriptors, since the port opened.
    [[nodiscard]] uint64_t joined_frames() const { return joined_frames_; }

    // Copies each frame into a free UMEM frame and queues it on the TX ring;
    // returns how many were queued (fewer when frames or ring slots run out),
    // and wakes the kernel for them (and any deferred before) at once.
    [[nodiscard]] size_t send(std::span<const std::span<const uint8_t>> frames);
    // Zero-copy transmit: takes out.size() free UMEM frames for the caller
    // to write into, all or none (false when the UMEM or the TX ring has
    // fewer free places; completions are reaped first).
    [[nodiscard]] bool take_tx_frames(std::span<TxFrame> out);
    // Gives frames from take_tx_frames() back unsent.
    void return_tx_frames(std::span<const TxFrame> frames);
    // Puts frames from take_tx_frames() on the TX ring, in order, and wakes
    // the kernel as `wakeup` says.
    // Returns true while queued frames wait for a wake-up: the owner must
    // then call flush_tx() soon (before blocking, and from its progress thread).
    bool queue_tx(std::span<const TxFrame> frames, uint64_t now_ns, TxWakeup wakeup);
    // Wakes the kernel until it has taken every queued TX frame (or refuses).
    void flush_tx();
    // TX descriptors queued that the kernel has not taken off the ring yet
    // (deferred, or refused: interface down); flush_tx() retries them.
    [[nodiscard]] uint32_t tx_waiting() const;

    // Returns TX frames the kernel has finished with to the free list.
    uint32_t complete();
    // TX frames queued but not yet completed.
    [[nodiscard]] uint32_t tx_in_flight() const { return tx_in_flight_; }
    // The rings themselves, for reading their fill level (xsk_usage.h).
    [[nodiscard]] const xsk_ring_cons& rx_ring() const { return rx_; }
    [[nodiscard]] const xsk_ring_prod& tx_ring() const { return tx_; }

    // Waits up to timeout_ms for the RX ring to hold a frame; false on timeout.
    [[nodiscard]] Result<bool> wait_readable(int timeout_ms);

  private:
    explicit XskPort(const XskPortConfig& config) : config_(config) {}
    [[nodiscard]] Status kick_tx();
    // Joins the chain of `count` descriptors from ring index `first` into a
    // buffer of the port and frees their UMEM frames.
    [[nodiscard]] RxFrame join_chain(uint32_t first, uint32_t count);

    XskPortConfig config_;
    // Declared before the socket so that it is destroyed after it.
    std::unique_ptr<Umem> umem_;
    xsk_socket* socket_ = nullptr;
    xsk_ring_cons rx_{};
    xsk_ring_prod tx_{};
    bool multi_buffer_ = false;
    // Buffers of the frames receive() joined; the first joined_used_ are
    // handed out until the next receive().
    std::vector<std::vector<uint8_t>> joined_;
    size_t joined_used_ = 0;
    uint64_t joined_frames_ = 0;
    uint32_t tx_in_flight_ = 0;
    uint32_t tx_unkicked_ = 0;           // queued since the last wake-up
    uint64_t tx_last_queue_ns_ = 0;      // when queue_tx() last ran
    uint64_t tx_deferred_since_ns_ = 0;  // when the oldest unkicked frame was queued
};

}  // namespace xlane::afxdp
