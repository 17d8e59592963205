// XskPort: one AF_XDP socket bound to (interface, RX queue) with its own
// UMEM, RX and TX rings; batched receive and transmit for the user-space stack.
#pragma once

#include <xdp/xsk.h>

#include <cstdint>
#include <memory>
#include <span>

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
    // > 0: SO_PREFER_BUSY_POLL + SO_BUSY_POLL (usecs) + SO_BUSY_POLL_BUDGET.
    uint32_t busy_poll_usecs = 0;
    uint32_t busy_poll_budget = 64;
    UmemConfig umem;
};

// A received frame: owned by the caller until recycle(addr).
struct RxFrame {
    uint64_t addr;
    std::span<uint8_t> data;
};

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

    // Tops up the fill ring from free frames and wakes the kernel if it
    // asked to be; returns frames added.
    uint32_t refill();
    // Takes up to out.size() frames off the RX ring (refilling afterwards).
    [[nodiscard]] size_t receive(std::span<RxFrame> out);
    // Gives received frames back to the UMEM.
    void recycle(uint64_t addr) { umem_->free_frame(addr); }

    // Copies each frame into a free UMEM frame and queues it on the TX ring;
    // returns how many were queued (fewer when frames or ring slots run out).
    [[nodiscard]] size_t send(std::span<const std::span<const uint8_t>> frames);
    // Returns TX frames the kernel has finished with to the free list.
    uint32_t complete();
    // TX frames queued but not yet completed.
    [[nodiscard]] uint32_t tx_in_flight() const { return tx_in_flight_; }

    // Waits up to timeout_ms for the RX ring to hold a frame; false on timeout.
    [[nodiscard]] Result<bool> wait_readable(int timeout_ms);

  private:
    explicit XskPort(const XskPortConfig& config) : config_(config) {}
    [[nodiscard]] Status kick_tx();

    XskPortConfig config_;
    // Declared before the socket so that it is destroyed after it.
    std::unique_ptr<Umem> umem_;
    xsk_socket* socket_ = nullptr;
    xsk_ring_cons rx_{};
    xsk_ring_prod tx_{};
    uint32_t tx_in_flight_ = 0;
};

}  // namespace xlane::afxdp
