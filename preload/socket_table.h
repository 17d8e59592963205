// SocketTable: what libxlane.so knows about each socket, indexed by fd number
// (O(1), lock-free, allocation-free), and which path serves it and why.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <optional>

namespace xlane::preload {

// Which path carries a socket's traffic (DESIGN.md, "Three paths").
enum class SocketPath : uint8_t {
    kKernel = 1,  // the real libc call
    kLoopback,    // sockmap redirect (decided by the kernel, not here)
    kFast,        // user space on AF_XDP rings
};

// Why a socket is not on a faster path. Append-only: these will be published
// to `xlane sockets`, so numbers never change meaning.
enum class PathReason : uint8_t {
    kNone = 0,
    kTcpUndecided = 1,  // a TCP socket: decided at connect/listen (XLANE_TCP)
    kNotIpSocket = 2,       // AF_UNIX, netlink, packet, ...: never accelerated
    kNotTcpOrUdp = 3,       // raw, ICMP, SCTP, MPTCP over IP: never accelerated
    kUndecided = 4,         // a UDP socket: decided at its first bind, connect or send
    kRule = 5,              // a rule (or an unusable rules file) keeps it on the kernel
    kNotAttached = 6,       // no interface of this network namespace has xlane attached
    kFastPathOwned = 7,     // another process owns the AF_XDP sockets of the interfaces
    kResource = 8,          // UMEM, AF_XDP socket, steering entry, memory: could not be had
    kUnsupportedOption = 9, // an option or call the fast path does not serve
    kForked = 10,           // inherited across fork(): the parent's engine serves its flows
    kProcessExit = 11,      // handed back to the kernel while the process exits
};

[[nodiscard]] const char* describe(PathReason reason);

struct SocketEntry {
    int family = 0;
    int type = 0;  // SOCK_STREAM, SOCK_DGRAM, ... without SOCK_NONBLOCK/SOCK_CLOEXEC
    int protocol = 0;
    SocketPath path = SocketPath::kKernel;
    PathReason reason = PathReason::kNone;

    // A TCP socket of either IP family (SOCK_STREAM over AF_INET/AF_INET6).
    [[nodiscard]] bool inet_stream() const {
        return type == SOCK_STREAM && (family == AF_INET || family == AF_INET6);
    }
};

// The path decision for a new socket; pure, so it is tested on its own.
[[nodiscard]] SocketEntry classify_socket(int family, int type, int protocol);

class SocketTable {
  public:
    // Covers the default fs.nr_open (2^20). Sockets above it are left to the
    // kernel path untracked rather than resizing under concurrent lookups.
    static constexpr int kCapacity = 1 << 20;

    constexpr SocketTable() = default;
    SocketTable(const SocketTable&) = delete;
    SocketTable& operator=(const SocketTable&) = delete;

    // A socket created by socket(), socketpair() or accept(); returns false when
    // the fd is beyond the table.
    bool record(int fd, const SocketEntry& entry);
    // dup/dup2/dup3/fcntl(F_DUPFD): `to` now names what `from` names (or nothing).
    void copy(int from, int to);
    // close(): called before the real close, so an fd number reused by another
    // thread right after the close is never wiped by us.
    void forget(int fd);
    // close_range()/closefrom(); bounded by the highest fd ever recorded, so
    // closing [3, ~0U] does not walk (and fault in) the whole table.
    void forget_range(unsigned first, unsigned last);

    [[nodiscard]] std::optional<SocketEntry> find(int fd) const;

  private:
    static uint64_t pack(const SocketEntry& entry);
    static SocketEntry unpack(uint64_t word);

    // One word per fd, so readers never see half an entry. All members start at
    // zero so the table lands in .bss (8 MiB): pages nobody touches cost no memory.
    std::atomic<uint64_t> entries_[kCapacity]{};
    std::atomic<unsigned> end_fd_{0};  // one past the highest fd ever recorded
};

// The process-wide table used by the interposed functions.
extern SocketTable g_sockets;

}  // namespace xlane::preload
