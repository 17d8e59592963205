// What libxlane.so's wrappers tell `xlane sockets`/`xlane stats`: one inline
// call per event (socket made, path decided, data moved, fd duplicated or
// closed), over the process's stats segment (userspace/stats/fd_stats.h).
// Only TCP and UDP sockets over IPv4/IPv6 are published. Counting is one
// array load and, for a published socket, relaxed atomic adds: no syscall,
// no lock, no allocation; errno is left as the real call set it.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

#include "socket_table.h"
#include "stats/fd_stats.h"

namespace xlane::preload::stats_hooks {

[[nodiscard]] inline stats::Path to_stats(SocketPath path) {
    switch (path) {
        case SocketPath::kKernel: return stats::Path::kernel;
        case SocketPath::kLoopback: return stats::Path::loopback;
        case SocketPath::kFast: return stats::Path::fast;
    }
    return stats::Path::unknown;
}

[[nodiscard]] inline stats::Reason to_stats(PathReason reason) {
    switch (reason) {
        case PathReason::kNone: return stats::Reason::none;
        case PathReason::kTcpUndecided: return stats::Reason::tcp_undecided;
        case PathReason::kNotIpSocket: return stats::Reason::not_ip;
        case PathReason::kNotTcpOrUdp: return stats::Reason::not_tcp_udp;
        case PathReason::kUndecided: return stats::Reason::undecided;
        case PathReason::kRule: return stats::Reason::rule;
        case PathReason::kNotAttached: return stats::Reason::no_attachment;
        case PathReason::kFastPathOwned: return stats::Reason::owned_elsewhere;
        case PathReason::kResource: return stats::Reason::resource_exhausted;
        case PathReason::kUnsupportedOption: return stats::Reason::unsupported_option;
        case PathReason::kForked: return stats::Reason::forked;
        case PathReason::kProcessExit: return stats::Reason::process_exit;
        default: return stats::Reason::error;  // a reason newer than this mapping
    }
}

[[nodiscard]] inline bool published_kind(const SocketEntry& entry) {
    return (entry.family == AF_INET || entry.family == AF_INET6) &&
           (entry.type == SOCK_STREAM || entry.type == SOCK_DGRAM) &&
           entry.reason != PathReason::kNotTcpOrUdp;
}

// socket() (`fresh`: no endpoints to ask the kernel for yet), accept():
// `entry` as recorded in g_sockets. `text` says more than the reason's name
// (the rule, the error); null: the reason's description.
inline void opened(int fd, const SocketEntry& entry, bool fresh = false, const char* text = nullptr) {
    if (!published_kind(entry)) return;
    stats::process_fd_stats().opened(fd, entry.family,
                                     entry.type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP,
                                     to_stats(entry.path), to_stats(entry.reason),
                                     text != nullptr ? text : describe(entry.reason), fresh);
}

// The path or reason changed (set_path), or bind/connect/listen changed the
// endpoints: published again from g_sockets' entry and the kernel's endpoints.
// Without `text`, the published text stays while the reason does (a rule's
// text survives the bind that follows the decision), else the reason's
// description. Hand-backs at exit are not shown: the stats keep the path the
// socket had while the program ran (and XLANE_STATS_FILE says so at exit).
inline void changed(int fd, const char* text = nullptr) {
    const auto entry = g_sockets.find(fd);
    if (!entry || !published_kind(*entry) || entry->reason == PathReason::kProcessExit) return;
    // Whether the reason changed is the publisher's to decide, under its
    // lock (reading the slot here raced with other threads' updates).
    stats::process_fd_stats().changed(fd, to_stats(entry->path), to_stats(entry->reason), text,
                                      describe(entry->reason));
}

inline void duplicated(int from, int to) {
    stats::process_fd_stats().duplicated(from, to);
}
inline void closed(int fd) {
    stats::process_fd_stats().closed(fd);
}
inline void closed_range(unsigned first, unsigned last) {
    stats::process_fd_stats().closed_range(first, last);
}

// After a receive call (recv, recvfrom, recvmsg, read, readv): ret as returned.
inline void received(int fd, long ret, long messages = 1) {
    stats::SocketSlot* slot = stats::process_fd_stats().slot(fd);
    if (slot == nullptr) return;
    // 0 bytes: an empty datagram (UDP), or end of stream (TCP, not a message).
    if (ret > 0 || (ret == 0 && messages > 0 && slot->protocol == IPPROTO_UDP)) {
        stats::count(slot, stats::Counter::rx_packets, static_cast<uint64_t>(messages));
        stats::count(slot, stats::Counter::rx_bytes, static_cast<uint64_t>(ret));
    } else if (ret < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        stats::count(slot, stats::Counter::rx_eagain);
    }
}

// After a send call (send, sendto, sendmsg, write, writev): ret as returned.
inline void sent(int fd, long ret, long messages = 1) {
    stats::SocketSlot* slot = stats::process_fd_stats().slot(fd);
    if (slot == nullptr) return;
    if (ret >= 0) {
        stats::count(slot, stats::Counter::tx_packets, static_cast<uint64_t>(messages));
        stats::count(slot, stats::Counter::tx_bytes, static_cast<uint64_t>(ret));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
        stats::count(slot, stats::Counter::tx_eagain);
    }
}

// After recvmmsg/sendmmsg: ret messages (or -1).
inline void received_many(int fd, int ret, const mmsghdr* messages) {
    if (ret <= 0) return received(fd, ret, 0);
    long bytes = 0;
    for (int i = 0; i < ret; ++i) bytes += messages[i].msg_len;
    received(fd, bytes, ret);
}
inline void sent_many(int fd, int ret, const mmsghdr* messages) {
    if (ret <= 0) return sent(fd, ret < 0 ? ret : 0, 0);
    long bytes = 0;
    for (int i = 0; i < ret; ++i) bytes += messages[i].msg_len;
    sent(fd, bytes, ret);
}

// A datagram lost on receive or send (queue full, no neighbour), by the path.
inline void dropped_rx(int fd, uint64_t count = 1) {
    stats::count(stats::process_fd_stats().slot(fd), stats::Counter::rx_drops, count);
}
inline void dropped_tx(int fd, uint64_t count = 1) {
    stats::count(stats::process_fd_stats().slot(fd), stats::Counter::tx_drops, count);
}

// poll/select/epoll: the fd was ready at once (hit) or had to be waited for (miss).
inline void polled(int fd, bool ready_at_once) {
    stats::count(stats::process_fd_stats().slot(fd),
                 ready_at_once ? stats::Counter::poll_hits : stats::Counter::poll_misses);
}

}  // namespace xlane::preload::stats_hooks
