#include "engine/interface_port.h"

#include <chrono>
#include <thread>

#include "engine/link_facts.h"
#include "xdp/netdev.h"

namespace xlane::engine {
namespace {

// The kernel frees a closed AF_XDP socket's buffer pool from a workqueue, so
// the queue reports EBUSY for a moment after the previous owner (another
// engine of this process, or one that just died) closed it. Retry for a
// bounded time; a socket that stays bound (someone else's) still fails.
constexpr auto kQueueReleaseWait = std::chrono::seconds(2);

Result<std::unique_ptr<afxdp::XskPort>> open_queue(const afxdp::XskPortConfig& config) {
    const auto deadline = std::chrono::steady_clock::now() + kQueueReleaseWait;
    for (;;) {
        auto xsk = afxdp::XskPort::open(config);
        if (xsk || xsk.error().errnum != EBUSY || std::chrono::steady_clock::now() >= deadline)
            return xsk;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

}  // namespace

Result<std::unique_ptr<InterfacePort>> InterfacePort::open(
    const std::string& ifname, const afxdp::XskPortConfig& xsk_template) {
    auto ifindex = interface_index(ifname);
    if (!ifindex) return ifindex.error();
    auto lock = InterfaceLock::acquire(ifname);
    if (!lock) return lock.error();
    auto steering = SteeringTable::open_interface(ifname);
    if (!steering)
        return make_error(steering.error().errnum,
                          "xlane is not attached to " + ifname + " in this network namespace (" +
                              steering.error().describe() + "); run `xlane attach " + ifname + "`");
    std::unique_ptr<InterfacePort> port(
        new InterfacePort(ifname, std::move(lock).value(), std::move(steering).value()));
    port->ifindex_ = ifindex.value();

    auto mac = interface_mac(ifname);
    if (!mac) return mac.error();
    port->mac_ = mac.value();

    // Holding the lock, this process owns nothing live here: entries in its
    // own name are left from before an exec and go with the dead owners'.
    auto self = SteerOwner::current_process();
    if (!self) return self.error();
    auto removed = remove_dead_owner_entries(port->steering_, &self.value());
    if (!removed) return removed.error();
    port->stale_removed_ = removed.value();

    auto queue_count = rx_queue_count(ifname);
    if (!queue_count) return queue_count.error();
    if (queue_count.value() > XLANE_MAX_QUEUES)
        return make_error(E2BIG, ifname + " has " + std::to_string(queue_count.value()) +
                                     " RX queues; xlane_xsks holds " +
                                     std::to_string(XLANE_MAX_QUEUES));
    for (uint32_t queue = 0; queue < queue_count.value(); ++queue) {
        afxdp::XskPortConfig config = xsk_template;
        config.ifindex = port->ifindex_;
        config.queue = queue;
        auto xsk = open_queue(config);
        if (!xsk) return xsk.error();
        port->queues_.push_back(std::move(xsk).value());
    }
    port->stats_.queues = port->queues_.size();
    for (uint32_t queue = 0; queue < port->queues_.size(); ++queue) {
        if (auto status = port->steering_.set_xsk(queue, port->queues_[queue]->fd()); !status)
            return status.error();
    }
    return port;
}

InterfacePort::~InterfacePort() {
    // Best effort: the kernel empties a slot by itself when its socket closes.
    for (uint32_t queue = 0; queue < queues_.size(); ++queue) (void)steering_.clear_xsk(queue);
}

}  // namespace xlane::engine
