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
    UniqueFd event;            // readable while poll mask & (interest|ERR|HUP) != 0
    bool v6only = false;
    std::optional<Endpoint> local;        // once bound
    std::optional<Endpoint> remote;       // once connecting
    std::optional<tcp::FourTuple> tuple;  // its connection's key in flows_
    std::unique_ptr<tcp::TcpListener> listener;
    std::vector<BindKey> steered_binds;  // a listener's entries
    tcp::TcpConfig config;               // options set before the connection exists
    uint32_t interest = POLLIN;
    bool signalled = false;
    bool read_shutdown = false;
    bool write_shutdown = false;
    bool error_taken = false;  // SO_ERROR (or a failed call) reported the error
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
