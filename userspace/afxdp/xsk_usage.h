// XskUsage: how full the four rings and the UMEM of one AF_XDP socket are,
// read from the ring indexes (no system call), and the kernel's own
// XDP_STATISTICS counters of the socket (one getsockopt), for `xlane stats`.
#pragma once

#include <linux/if_xdp.h>

#include <cstdint>

#include "afxdp/xsk_port.h"
#include "common/result.h"

namespace xlane::afxdp {

struct RingUsage {
    uint32_t size = 0;
    uint32_t used = 0;  // entries produced and not yet consumed
};

struct XskUsage {
    RingUsage rx;
    RingUsage tx;
    RingUsage fill;
    RingUsage completion;
    uint64_t umem_frames = 0;
    uint64_t umem_frames_free = 0;  // in the free list
    uint64_t tx_in_flight = 0;
};

// The owner's view: call where the port may be used (its owner's lock held),
// since the free list and the cached indexes are the owner's. The kernel's
// side of each ring is read as it is at that instant.
[[nodiscard]] XskUsage usage_of(XskPort& port);

// XDP_STATISTICS of an AF_XDP socket; any thread (the fd is only read).
[[nodiscard]] Result<xdp_statistics> kernel_statistics(int xsk_fd);

}  // namespace xlane::afxdp
