// Umem: registration, frame accounting, fill and completion ring service.
#include "afxdp/umem.h"

#include <fcntl.h>
#include <sys/mman.h>

#include <algorithm>
#include <string>

namespace xlane::afxdp {
namespace {

// The kernel refuses UMEM chunks below 2 KiB (XDP_UMEM_MIN_CHUNK_SIZE).
constexpr uint32_t kMinFrameSize = 2048;

}  // namespace

Result<std::unique_ptr<Umem>> Umem::create(const UmemConfig& config) {
    if (config.frame_count == 0 || config.frame_size < kMinFrameSize ||
        (config.frame_size & (config.frame_size - 1)) != 0)
        return make_error(
            EINVAL, "UMEM frame size must be a power of two >= " + std::to_string(kMinFrameSize) +
                        " and the frame count non-zero");
    std::unique_ptr<Umem> umem(new Umem(config));
    umem->area_size_ = size_t{config.frame_count} * config.frame_size;
    // Page-aligned and locked-in-kernel by XDP_UMEM_REG; MAP_POPULATE avoids
    // page faults on the data path.
    void* area = ::mmap(nullptr, umem->area_size_, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (area == MAP_FAILED)
        return errno_error("cannot map " + std::to_string(umem->area_size_) +
                           " bytes for the AF_XDP UMEM");
    umem->area_ = area;

    const xsk_umem_config umem_config = {
        .fill_size = config.fill_size,
        .comp_size = config.completion_size,
        .frame_size = config.frame_size,
        .frame_headroom = XSK_UMEM__DEFAULT_FRAME_HEADROOM,
        .flags = 0,
    };
    if (int err = xsk_umem__create(&umem->umem_, area, umem->area_size_, &umem->fill_,
                                   &umem->completion_, &umem_config);
        err != 0) {
        umem->umem_ = nullptr;
        return make_error(err,
                          "cannot register the AF_XDP UMEM (XDP_UMEM_REG; check "
                          "RLIMIT_MEMLOCK and that the kernel has CONFIG_XDP_SOCKETS)");
    }
    // libxdp creates the socket without SOCK_CLOEXEC: an exec'd program
    // must not inherit it (it would keep the UMEM and its xlane_xsks slot).
    // It also takes the lowest free number, unlike xlane's other descriptors
    // (common/high_fd.h): libxdp 1.3 has no xsk_umem__create_with_fd.
    (void)::fcntl(xsk_umem__fd(umem->umem_), F_SETFD, FD_CLOEXEC);
    umem->free_.reserve(config.frame_count);
    // Hand out low addresses first (LIFO stack, filled in reverse).
    for (uint32_t i = config.frame_count; i-- > 0;)
        umem->free_.push_back(uint64_t{i} * config.frame_size);
    return umem;
}

Umem::~Umem() {
    // Sockets using the UMEM are deleted first (XskPort destroys its socket
    // before its Umem), so the delete cannot fail with EBUSY here.
    if (umem_ != nullptr) (void)xsk_umem__delete(umem_);
    if (area_ != nullptr) ::munmap(area_, area_size_);
}

std::optional<uint64_t> Umem::alloc_frame() {
    if (free_.empty()) return std::nullopt;
    const uint64_t addr = free_.back();
    free_.pop_back();
    return addr;
}

void Umem::free_frame(uint64_t addr) {
    free_.push_back(addr & ~uint64_t{config_.frame_size - 1});
}

uint8_t* Umem::data(uint64_t addr) const {
    return static_cast<uint8_t*>(xsk_umem__get_data(area_, addr));
}

uint32_t Umem::refill(uint32_t max) {
    // The fill ring never holds more than half the frames: a small UMEM
    // with a large fill ring would otherwise leave none to transmit with.
    const uint32_t in_fill = config_.fill_size - xsk_prod_nb_free(&fill_, config_.fill_size);
    const uint32_t rx_share = std::max<uint32_t>(config_.frame_count / 2, 1);
    const uint32_t room = in_fill < rx_share ? rx_share - in_fill : 0;
    const uint32_t wanted =
        std::min<uint64_t>({max, room, free_.size(), xsk_prod_nb_free(&fill_, UINT32_MAX)});
    if (wanted == 0) return 0;
    uint32_t index = 0;
    const uint32_t reserved = xsk_ring_prod__reserve(&fill_, wanted, &index);
    for (uint32_t i = 0; i < reserved; ++i) {
        *xsk_ring_prod__fill_addr(&fill_, index + i) = free_.back();
        free_.pop_back();
    }
    xsk_ring_prod__submit(&fill_, reserved);
    return reserved;
}

uint32_t Umem::reap_completions() {
    uint32_t index = 0;
    const uint32_t done = xsk_ring_cons__peek(&completion_, config_.completion_size, &index);
    for (uint32_t i = 0; i < done; ++i)
        free_frame(*xsk_ring_cons__comp_addr(&completion_, index + i));
    xsk_ring_cons__release(&completion_, done);
    return done;
}

}  // namespace xlane::afxdp
