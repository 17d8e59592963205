// The engine's record of one socket (internal to udp_engine*.cpp): its kernel
// socket, receive queue, readiness eventfd and the steering entries it entered.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "common/unique_fd.h"
#include "engine/udp_engine.h"
#include "steering/steering_table.h"

namespace xlane::engine {

struct UdpEngine::Socket {
    Socket(int family_, int kernel_fd_, UniqueFd owned_, UniqueFd event_, size_t rcvbuf)
        : family(family_),
          kernel_fd(kernel_fd_),
          owned_kernel_fd(std::move(owned_)),
          event(std::move(event_)),
          queue(rcvbuf) {}

    int family;
    int kernel_fd;             // the kernel ("shadow") socket
    UniqueFd owned_kernel_fd;  // set when open() created it
    UniqueFd event;            // readable exactly while `queue` is non-empty
    udp::DatagramQueue queue;
    bool v6only = false;
    std::optional<Endpoint> local;   // once bound (explicitly or implicitly)
    std::optional<Endpoint> remote;  // once connected
    // What this socket entered, to remove exactly that at connect/close.
    std::vector<BindKey> steered_binds;
    std::optional<FlowKey> steered_flow;
    bool demux_bound = false;
    bool demux_connected = false;
    // release(): steering removed, the kernel socket no longer drained.
    bool released = false;
    // An error the kernel socket reported while being drained (ICMP port
    // unreachable on a connected socket: ECONNREFUSED, ...). The kernel
    // hands it out once; receive() gives it to the application in turn, and
    // the eventfd stays readable while it waits, as the socket's POLLERR would.
    int pending_error = 0;
    SocketStats stats;
    DropCounters published_drops;

    // A datagram lost on receive (queue over SO_RCVBUF) or send (neighbour
    // unresolved, TX ring stuck): counted here and where it is published.
    void count_rx_dropped() {
        ++stats.rx_dropped_queue_full;
        if (published_drops.rx_dropped != nullptr)
            published_drops.rx_dropped->fetch_add(1, std::memory_order_relaxed);
    }
    void count_tx_dropped() {
        ++stats.tx_dropped;
        if (published_drops.tx_dropped != nullptr)
            published_drops.tx_dropped->fetch_add(1, std::memory_order_relaxed);
    }

    // What the eventfd says: a datagram or a pending error waits.
    [[nodiscard]] bool readable() const { return !queue.empty() || pending_error != 0; }
    // The eventfd side of the readiness invariant; call with the engine mutex
    // held. Only the engine writes or reads the eventfd, so `event_signalled`
    // knows its counter, and no system call signals it twice or clears it
    // when it is clear (a read of a clear eventfd is still a system call).
    void signal_readable() {
        if (event_signalled) return;
        const uint64_t one = 1;
        (void)!::write(event.get(), &one, sizeof(one));
        event_signalled = true;
    }
    void clear_readable() {
        if (!event_signalled) return;
        uint64_t value = 0;
        (void)!::read(event.get(), &value, sizeof(value));
        event_signalled = false;
    }
    bool event_signalled = false;
};

// Everything a send decided outside the engine mutex (route and neighbour).
struct UdpEngine::TxPlan {
    Endpoint source;
    Endpoint destination;
    packet::MacAddr dst_mac{};
    uint32_t mtu = 1500;
};

}  // namespace xlane::engine
