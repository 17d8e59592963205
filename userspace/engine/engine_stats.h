// Counters of the UDP engine, per interface port and per socket: plain
// structs of uint64_t so that they can be copied into shared memory as they are.
#pragma once

#include <linux/if_xdp.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "afxdp/xsk_usage.h"

namespace xlane::engine {

// One InterfacePort (all RX queues of one interface).
struct PortStats {
    uint64_t queues = 0;     // AF_XDP sockets, one per RX queue (a gauge)
    uint64_t rx_frames = 0;  // taken off the RX rings
    uint64_t rx_bytes = 0;
    uint64_t rx_batches = 0;               // non-empty ring reads
    uint64_t rx_delivered = 0;             // datagrams put in a socket's queue
    uint64_t rx_dropped_no_socket = 0;     // no socket (closed meanwhile, or not UDP ours)
    uint64_t rx_dropped_queue_full = 0;    // the socket's queue was over its SO_RCVBUF
    uint64_t rx_dropped_bad_checksum = 0;  // IPv4 header or UDP checksum wrong
    uint64_t rx_dropped_malformed = 0;     // any other parse error
    uint64_t rx_dropped_not_udp = 0;       // TCP: not served by this engine yet
    uint64_t rx_fragments = 0;             // IP fragments given to the reassembler
    uint64_t rx_reassembled = 0;           // datagrams the reassembler completed
    uint64_t rx_joined = 0;                // frames that came as a chain of UMEM frames
    uint64_t rx_partial_checksum = 0;      // accepted with a local sender's partial checksum
    uint64_t tx_datagrams = 0;
    uint64_t tx_frames = 0;  // put on the TX rings (fragments count one each)
    uint64_t tx_bytes = 0;
    uint64_t tx_ring_full_waits = 0;  // times a send waited for TX ring or UMEM room
    uint64_t tx_ring_full_eagain = 0;  // non-blocking sends refused (EAGAIN) for want of room
    uint64_t tx_ring_full_enobufs = 0;  // blocking sends that waited tx_ring_wait in vain (ENOBUFS)
    uint64_t tx_deferred = 0;  // datagrams left on the TX ring for a batched kernel wake-up
};

// One engine socket.
struct SocketStats {
    uint64_t rx_datagrams = 0;         // queued from the AF_XDP path
    uint64_t rx_kernel_datagrams = 0;  // queued from the kernel socket (fragments, misses)
    uint64_t rx_bytes = 0;
    uint64_t rx_dropped_queue_full = 0;  // SO_RCVBUF overflow (SO_RXQ_OVFL)
    uint64_t rx_read = 0;                // datagrams handed to the application
    uint64_t tx_datagrams = 0;           // sent on an AF_XDP TX ring
    uint64_t tx_bytes = 0;
    // Sent through the kernel socket: the route leaves by no engine port.
    uint64_t tx_kernel_datagrams = 0;
    uint64_t tx_dropped = 0;  // lost: neighbour unresolved or TX ring stuck
};

// Counters kept outside the engine (the preload library's published stats
// slot) to which a socket's drops are added as they happen, so that another
// process sees them with no call into the engine. Null: not kept.
struct DropCounters {
    std::atomic<uint64_t>* rx_dropped = nullptr;  // with SocketStats::rx_dropped_queue_full
    std::atomic<uint64_t>* tx_dropped = nullptr;  // with SocketStats::tx_dropped
};

// One AF_XDP socket's rings and UMEM, sampled (UdpEngine::usage()).
struct QueueUsageSample {
    uint32_t queue = 0;
    afxdp::XskUsage usage;
    bool has_kernel_statistics = false;
    xdp_statistics kernel{};  // XDP_STATISTICS
};

// One interface port: its counters and each of its queues.
struct PortUsageSample {
    std::string ifname;
    PortStats stats;
    std::vector<QueueUsageSample> queues;
};

}  // namespace xlane::engine
