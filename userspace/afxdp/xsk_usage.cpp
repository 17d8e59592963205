#include "afxdp/xsk_usage.h"

#include <sys/socket.h>

#include <cerrno>

namespace xlane::afxdp {
namespace {

// libxdp's ring structs share the layout of both kinds; the producer and
// consumer words live in memory the kernel writes, so they are read atomically.
template <typename Ring>
RingUsage ring_usage(const Ring& ring) {
    if (ring.producer == nullptr || ring.consumer == nullptr) return {};
    const uint32_t produced = __atomic_load_n(ring.producer, __ATOMIC_ACQUIRE);
    const uint32_t consumed = __atomic_load_n(ring.consumer, __ATOMIC_ACQUIRE);
    return RingUsage{ring.size, produced - consumed};
}

}  // namespace

XskUsage usage_of(XskPort& port) {
    XskUsage usage;
    usage.rx = ring_usage(port.rx_ring());
    usage.tx = ring_usage(port.tx_ring());
    usage.fill = ring_usage(*port.umem().fill_ring());
    usage.completion = ring_usage(*port.umem().completion_ring());
    usage.umem_frames = port.umem().config().frame_count;
    usage.umem_frames_free = port.umem().free_frames();
    usage.tx_in_flight = port.tx_in_flight();
    return usage;
}

Result<xdp_statistics> kernel_statistics(int xsk_fd) {
    xdp_statistics statistics{};
    socklen_t length = sizeof(statistics);
    if (::getsockopt(xsk_fd, SOL_XDP, XDP_STATISTICS, &statistics, &length) != 0)
        return errno_error("getsockopt(XDP_STATISTICS)");
    return statistics;
}

}  // namespace xlane::afxdp
