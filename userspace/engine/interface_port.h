// InterfacePort: this process's AF_XDP sockets on every RX queue of one
// interface where xlane is attached, entered in its xlane_xsks map, owned exclusively.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "afxdp/xsk_port.h"
#include "common/result.h"
#include "engine/engine_stats.h"
#include "engine/interface_lock.h"
#include "engine/stale_steering.h"
#include "packet/frame_parser.h"
#include "packet/wire.h"
#include "steering/steering_table.h"

namespace xlane::engine {

// How the engine reads what a port receives: checksums verified, and the
// partial sum a sender on this host leaves for offload accepted (a veth
// peer with its default offloads sends nothing else).
inline constexpr packet::ParseOptions kReceivedFrameParse{.accept_partial_checksums = true};

// Opening order: the interface lock (one owner per interface and
// namespace), the pinned maps (xlane must be attached), removal of the
// steering entries of dead owners, one XskPort per RX queue, and last each
// socket into xlane_xsks[queue] so that nothing is redirected to a socket
// that is not yet ready. The destructor empties those slots before closing
// the sockets: from then on steered flows get XDP_PASS (reason no_xsk) and
// reach the kernel, as they also do when the process dies (the kernel
// empties the slot of a closed socket).
//
// Not thread-safe: the rings are single-producer/single-consumer; the owner
// (UdpEngine) serialises every use under its mutex.
class InterfacePort {
  public:
    // `xsk_template` gives mode, ring and UMEM sizes; ifindex and queue are set here.
    [[nodiscard]] static Result<std::unique_ptr<InterfacePort>> open(
        const std::string& ifname, const afxdp::XskPortConfig& xsk_template);
    ~InterfacePort();
    InterfacePort(const InterfacePort&) = delete;
    InterfacePort& operator=(const InterfacePort&) = delete;

    [[nodiscard]] const std::string& ifname() const { return ifname_; }
    [[nodiscard]] uint32_t ifindex() const { return ifindex_; }
    [[nodiscard]] const packet::MacAddr& mac() const { return mac_; }
    [[nodiscard]] SteeringTable& steering() { return steering_; }
    [[nodiscard]] std::span<const std::unique_ptr<afxdp::XskPort>> queues() const {
        return queues_;
    }
    [[nodiscard]] afxdp::XskPort& queue(size_t index) { return *queues_[index]; }
    [[nodiscard]] PortStats& stats() { return stats_; }
    [[nodiscard]] const PortStats& stats() const { return stats_; }
    // The interface lock's fd (a forked child closes its inherited copy).
    [[nodiscard]] int lock_fd() const { return lock_.fd(); }
    // What the start-up cleanup removed.
    [[nodiscard]] const StaleRemoval& stale_removed() const { return stale_removed_; }

  private:
    InterfacePort(std::string ifname, InterfaceLock lock, SteeringTable steering)
        : ifname_(std::move(ifname)), lock_(std::move(lock)), steering_(std::move(steering)) {}

    std::string ifname_;
    uint32_t ifindex_ = 0;
    packet::MacAddr mac_{};
    // Destroyed last: the next owner must not get in while we still hold sockets.
    InterfaceLock lock_;
    SteeringTable steering_;
    std::vector<std::unique_ptr<afxdp::XskPort>> queues_;
    PortStats stats_;
    StaleRemoval stale_removed_;
};

}  // namespace xlane::engine
