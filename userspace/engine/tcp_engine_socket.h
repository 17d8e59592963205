// The TCP engine's records (internal to tcp_engine*.cpp): an application
// socket, and a connection the engine carries (owned, waiting in a
// listener's queue, or orphaned by close() until its closing handshake ends).
#pragma once

#include <poll.h>

#include <optional>
#include <vector>

#include "common/unique_fd.h"
#include "engine/tcp_engine.h"
#include "steering/steering_table.h"

namespace xlane::engine {

struct TcpEngine::Socket {
    Socket(int family_, int kernel_fd_, UniqueFd owned_, UniqueFd event_)
        : family(family_),
          kernel_fd(kernel_fd_),
          owned_kernel_fd(std::move(owned_)),
          event(std::move(event_)) {}

    int family;
    int kernel_fd;             // the shadow socket: fd identity and port reservation
    UniqueFd owned_kernel_fd;  // set when the engine created it
    UniqueFd event;            // readable while poll mask & (interest()|ERR|HUP) != 0
    bool v6only = false;
    std::optional<Endpoint> local;        // once bound
    std::optional<Endpoint> remote;       // once connecting
    std::optional<tcp::FourTuple> tuple;  // its connection's key in flows_
    std::unique_ptr<tcp::TcpListener> listener;
    std::vector<BindKey> steered_binds;  // a listener's entries
    tcp::TcpConfig config;               // options set before the connection exists
    // Watchers holding an interest in data (POLLIN), in the peer's FIN
    // (POLLRDHUP) and in room to write (POLLOUT): the eventfd serves them all
    // at once (a waiter sees the union, and asks the mask what holds).
    uint32_t read_holders = 0;
    uint32_t rdhup_holders = 0;
    uint32_t write_holders = 0;
    bool signalled = false;
    // An edge-triggered epoll registration watches `event` (sticky): a new
    // event then re-signals an eventfd that is readable already, which a
    // level-triggered watcher never needs (a write per segment otherwise).
    bool edges_watched = false;
    bool read_shutdown = false;
    bool write_shutdown = false;
    bool error_taken = false;  // SO_ERROR (or a failed call) reported the error

    uint32_t interest() const {
        return (read_holders > 0 ? POLLIN | POLLRDNORM : 0u) | (rdhup_holders > 0 ? POLLRDHUP : 0u) |
               (write_holders > 0 ? POLLOUT | POLLWRNORM : 0u);
    }
};

struct TcpEngine::Flow {
    std::shared_ptr<tcp::TcpConnection> conn;
    TcpSocketId owner = 0;     // 0: not accepted yet, or orphaned by close()
    TcpSocketId listener = 0;  // set while in a listener's queue
    InterfacePort* port = nullptr;
    tcp::FrameAddressing addressing;  // our MAC and the next hop's
    std::optional<FlowKey> steered;   // its xlane_flows entry
    UniqueFd reservation;             // the shadow socket kept while orphaned
};

}  // namespace xlane::engine
