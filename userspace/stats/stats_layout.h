// The shared-memory layout through which each preloaded process publishes its
// sockets and counters (StatsPublisher) and `xlane sockets`/`xlane stats` read them.
//
// One segment per process: the file <dir>/xlane-stats.<pid> (dir: /dev/shm),
// created by its owner with mode 0600, so only that user and root can read it.
//
//   [ SegmentHeader: one page ][ SocketSlot 0 ][ SocketSlot 1 ] ...
//
// The owner grows the file (ftruncate + one more mapping of the new part, so
// the slots it already handed out never move); `slot_count` says how many
// slots exist and is raised only after they do. No hard socket limit: slots
// are added in chunks that double (64, 64, 128, ...) up to kMaxSlots, and a
// socket beyond it is simply not published (it works all the same).
//
// Versioning: `magic` + `version` + the three sizes. A change that moves or
// resizes a field raises kLayoutVersion; readers refuse other versions with a
// message instead of misreading. Path and reason codes and counter indexes are
// append-only: numbers never change meaning.
//
// Consistency: identity fields (endpoints, path, reason) of a slot and the
// header's port table change under a seqlock (odd `seq` = being written);
// counters are independent monotonic relaxed atomics that the owning process
// adds to with no syscall and no lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "xlane/abi.h"

namespace xlane::stats {

inline constexpr uint64_t kMagic = 0x3153544154534c58ULL;  // "XLSTATS1" little-endian
inline constexpr uint32_t kLayoutVersion = 3;
inline constexpr const char* kDefaultDirectory = "/dev/shm";
inline constexpr const char* kSegmentPrefix = "xlane-stats.";  // + decimal pid
inline constexpr uint32_t kFirstChunkSlots = 64;
// 2^20 slots, like the preload library's fd table; the file is sparse on
// tmpfs, so only slots ever used cost memory.
inline constexpr uint32_t kMaxSlots = 1u << 20;
// Interfaces of one process published (the rest work all the same, unlisted):
// with kMaxQueues queue entries they fill the one-page header.
inline constexpr size_t kMaxPorts = 8;
inline constexpr size_t kReasonTextSize = 88;
inline constexpr size_t kCommSize = 16;

// Which path serves a socket (numbers as in the preload library's SocketPath).
enum class Path : uint8_t {
    unknown = 0,
    kernel = 1,
    loopback = 2,
    fast = 3,
};

// Why a socket is not on the fast path (kNone when it is). Append-only.
enum class Reason : uint8_t {
    none = 0,
    rule = 1,                // a rule (file or built-in) sends it to the kernel; text: the rule
    no_attachment = 2,       // no xlane XDP attachment on the interface its traffic uses
    owned_elsewhere = 3,     // the interface's fast path is owned by another process
    resource_exhausted = 4,  // UMEM, rings, steering map or slots full
    unsupported_option = 5,  // a socket option or flag the user-space stack does not serve
    not_ip = 6,              // AF_UNIX, netlink, packet, ...: never accelerated
    not_tcp_udp = 7,         // raw, ICMP, SCTP, ...: never accelerated
    tcp_undecided = 8,       // TCP: decided at connect/listen (XLANE_TCP)
    config_error = 9,        // the rules file has an error: everything goes to the kernel
    error = 10,              // setting the fast path up failed; text: the error
    undecided = 11,          // UDP: decided at its first bind, connect or send
    forked = 12,             // inherited across fork(): the parent's fast path serves its flows
    process_exit = 13,       // handed back to the kernel while the process exits
};

// Per-socket counters, indexes into SocketSlot::counters. Append-only.
enum class Counter : uint8_t {
    rx_packets,
    rx_bytes,
    tx_packets,
    tx_bytes,
    rx_drops,      // datagrams lost on receive (queue full, ...)
    tx_drops,      // datagrams lost on send (no neighbour, ring stuck)
    rx_eagain,     // a receive found nothing (EAGAIN/EWOULDBLOCK)
    tx_eagain,     // a send could not go now (EAGAIN/ENOBUFS)
    poll_hits,     // a poll/select/epoll call reported the socket ready without sleeping
    poll_misses,   // ... slept before reporting it, or (poll/select) returned it not ready
    count_,
};
inline constexpr size_t kCounterCount = static_cast<size_t>(Counter::count_);

// Names as `xlane stats --json` and XLANE_STATS_FILE print them ("?" for a
// number this build does not know, from a newer publisher).
[[nodiscard]] const char* name(Path path) noexcept;
[[nodiscard]] const char* name(Reason reason) noexcept;
[[nodiscard]] const char* name(Counter counter) noexcept;
// "udp", "tcp" or the number.
[[nodiscard]] const char* protocol_name(uint8_t protocol, char (&buffer)[8]) noexcept;

enum class SlotState : uint32_t {
    free = 0,     // never used or retired (socket closed)
    live = 1,
};

// An address and port; addr is IPv4-mapped for IPv4 (as in the steering maps).
struct StatsEndpoint {
    xlane_addr addr;
    uint16_t port;  // host order
    uint8_t set;    // 0: not bound/connected yet
    uint8_t pad_[5];
};
static_assert(sizeof(StatsEndpoint) == 24);

// From a sockaddr_in/sockaddr_in6 (anything else: not set). No allocation.
[[nodiscard]] StatsEndpoint endpoint_from_sockaddr(const void* sockaddr, unsigned length) noexcept;
// "198.18.0.2:5000", "[fd00:198:18::2]:5000", "*" when not set; always
// NUL-terminated (truncated when `size` is too small). Returns `buffer`.
inline constexpr size_t kEndpointTextSize = 56;
const char* format_endpoint(const StatsEndpoint& endpoint, char* buffer, size_t size) noexcept;

struct SocketSlot {
    std::atomic<uint32_t> seq;    // seqlock over the identity fields below
    std::atomic<uint32_t> state;  // SlotState
    int32_t fd;
    uint16_t family;  // AF_INET, AF_INET6
    uint8_t protocol;  // IPPROTO_UDP, IPPROTO_TCP
    uint8_t path;      // Path
    uint8_t reason;    // Reason
    uint8_t pad_[3];
    uint32_t next_free;       // owner-private: free list (index + 1, 0 = end) while free
    uint32_t refs;            // owner-private: fds naming the socket (dup) while live
    uint32_t pad2_;
    uint64_t opened_realtime_ns;  // CLOCK_REALTIME when published
    StatsEndpoint local;
    StatsEndpoint remote;
    char reason_text[kReasonTextSize];  // NUL-terminated, may be empty
    std::atomic<uint64_t> counters[kCounterCount];
};
static_assert(sizeof(SocketSlot) == 256, "SocketSlot is part of the layout: bump kLayoutVersion");
static_assert(std::atomic<uint64_t>::is_always_lock_free && std::atomic<uint32_t>::is_always_lock_free,
              "counters must be address-free atomics to live in shared memory");

// Fast-path traffic of one interface the process serves (all its RX queues):
// the engine's counters, copied by the progress thread at most every
// kUsageIntervalMs (never by a sending or receiving call).
struct PortUsage {
    char ifname[16];
    uint32_t queues;      // AF_XDP sockets (one per RX queue), all of them (see QueueUsage)
    uint32_t pad_;
    uint64_t rx_frames;   // taken off the RX rings
    uint64_t rx_bytes;
    uint64_t rx_delivered;           // datagrams put in a socket's receive queue
    uint64_t rx_dropped_no_socket;   // no socket of ours (closed meanwhile)
    uint64_t rx_dropped_queue_full;  // the socket's queue was over its SO_RCVBUF
    uint64_t rx_dropped_bad;         // bad checksum or malformed
    uint64_t rx_dropped_other_proto; // not served by the engine (TCP while it has no TCP)
    uint64_t tx_datagrams;
    uint64_t tx_frames;              // put on the TX rings
    uint64_t tx_bytes;
    uint64_t tx_ring_full;           // times a send waited for TX ring or UMEM room
    uint64_t rx_joined;              // frames that came as a chain of UMEM frames (multi-buffer)
    uint64_t rx_partial_checksum;    // accepted with the partial checksum a local sender leaves
};
static_assert(sizeof(PortUsage) == 128);

// Ring and UMEM use of one AF_XDP socket (interface, RX queue): ring
// occupancy and free frames sampled by the progress thread (reading ring
// indexes only), and the kernel's XDP_STATISTICS of the socket.
struct QueueUsage {
    char ifname[16];
    uint32_t queue;            // RX queue index
    uint32_t rx_ring_size;     // entries of each ring
    uint32_t tx_ring_size;
    uint32_t fill_ring_size;
    uint32_t completion_ring_size;
    uint32_t rx_ring_used;     // received frames not yet taken by the process
    uint32_t tx_ring_used;     // frames to send not yet taken by the kernel
    uint32_t fill_ring_used;   // empty frames offered to the kernel for receiving
    uint32_t completion_ring_used;  // sent frames not yet taken back by the process
    uint32_t pad_;
    uint64_t umem_frames;      // frames of the socket's UMEM
    uint64_t umem_frames_free; // in the process's free list (the rest are in a ring or in use)
    uint64_t tx_in_flight;     // frames sent and not yet completed
    // The kernel's XDP_STATISTICS (struct xdp_statistics) of the socket.
    uint64_t kernel_rx_dropped;         // frames the kernel dropped (e.g. no room)
    uint64_t kernel_rx_invalid;         // descriptors the kernel found invalid (RX)
    uint64_t kernel_tx_invalid;
    uint64_t kernel_rx_ring_full;       // frames dropped because the RX ring was full
    uint64_t kernel_fill_ring_empty;    // times the fill ring had no frame for the kernel
    uint64_t kernel_tx_ring_empty;      // times the kernel found the TX ring empty
};
static_assert(sizeof(QueueUsage) == 128);

inline constexpr size_t kMaxQueues = 16;
// How often the progress thread refreshes PortUsage and QueueUsage.
inline constexpr uint32_t kUsageIntervalMs = 200;

struct SegmentHeader {
    std::atomic<uint64_t> magic;  // kMagic, stored last when the header is ready
    uint32_t version;
    uint32_t header_size;
    uint32_t slot_size;
    uint32_t max_slots;
    int32_t pid;
    uint32_t uid;
    uint64_t start_time;  // field 22 of /proc/<pid>/stat: tells a reused pid apart
    uint64_t created_realtime_ns;
    char comm[kCommSize];
    std::atomic<uint32_t> slot_count;  // slots that exist in the file
    std::atomic<uint32_t> ports_seq;   // seqlock over the port and queue tables
    uint32_t port_count;
    uint32_t queue_count;  // the first kMaxQueues AF_XDP sockets of all ports
    PortUsage ports[kMaxPorts];
    QueueUsage queues[kMaxQueues];
    uint64_t usage_realtime_ns;  // CLOCK_REALTIME of the last refresh (0: never)
    uint8_t reserved_[4096 - 80 - kMaxPorts * sizeof(PortUsage) - kMaxQueues * sizeof(QueueUsage) - 8];
};
static_assert(sizeof(SegmentHeader) == 4096, "SegmentHeader is one page");
static_assert(offsetof(SegmentHeader, ports) == 80);

}  // namespace xlane::stats
