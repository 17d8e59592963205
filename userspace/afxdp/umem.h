// Umem: the packet buffer area an AF_XDP socket shares with the kernel, its
// fill and completion rings, and the list of frames user space currently owns.
#pragma once

#include <xdp/xsk.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "common/result.h"

namespace xlane::afxdp {

struct UmemConfig {
    uint32_t frame_count = 4096;
    uint32_t frame_size = XSK_UMEM__DEFAULT_FRAME_SIZE;  // power of two (aligned mode)
    uint32_t fill_size = XSK_RING_PROD__DEFAULT_NUM_DESCS;
    uint32_t completion_size = XSK_RING_CONS__DEFAULT_NUM_DESCS;
};

// Every frame is at any moment in exactly one place: the free list here, the
// fill ring, the kernel, the RX ring, the caller, the TX ring or the
// completion ring. The fill ring is produced only by refill() and the
// completion ring consumed only by reap_completions(), both from the single
// thread that owns this object: the rings are single-producer/single-consumer
// and libxdp's ring helpers take no locks.
class Umem {
  public:
    // mmap()s frame_count * frame_size bytes and registers them (XDP_UMEM_REG).
    [[nodiscard]] static Result<std::unique_ptr<Umem>> create(const UmemConfig& config = {});
    ~Umem();
    // libxdp keeps pointers to the ring structs inside this object.
    Umem(const Umem&) = delete;
    Umem& operator=(const Umem&) = delete;

    [[nodiscard]] xsk_umem* handle() const { return umem_; }
    [[nodiscard]] xsk_ring_prod* fill_ring() { return &fill_; }
    [[nodiscard]] xsk_ring_cons* completion_ring() { return &completion_; }
    [[nodiscard]] const UmemConfig& config() const { return config_; }

    // A free frame's UMEM address, or nullopt when all frames are in use.
    [[nodiscard]] std::optional<uint64_t> alloc_frame();
    // Returns a frame; any address inside the frame names it.
    void free_frame(uint64_t addr);
    [[nodiscard]] size_t free_frames() const { return free_.size(); }

    [[nodiscard]] uint8_t* data(uint64_t addr) const;
    [[nodiscard]] std::span<uint8_t> frame(uint64_t addr, uint32_t len) const {
        return {data(addr), len};
    }

    // Moves up to `max` free frames into the fill ring, which holds at most
    // half of all frames (the rest stay for TX); returns how many.
    uint32_t refill(uint32_t max = UINT32_MAX);
    // Takes finished TX frames off the completion ring into the free list.
    uint32_t reap_completions();

  private:
    explicit Umem(const UmemConfig& config) : config_(config) {}

    UmemConfig config_;
    void* area_ = nullptr;
    size_t area_size_ = 0;
    xsk_umem* umem_ = nullptr;
    xsk_ring_prod fill_{};
    xsk_ring_cons completion_{};
    std::vector<uint64_t> free_;
};

}  // namespace xlane::afxdp
