// SocketTable storage and the socket-path decision.
#include "socket_table.h"

#include <netinet/in.h>
#include <sys/socket.h>

namespace xlane::preload {

static_assert(std::atomic<uint64_t>::is_always_lock_free,
              "lookups must not take a lock: they run inside every socket call");

constinit SocketTable g_sockets;

const char* describe(PathReason reason) {
    switch (reason) {
        case PathReason::kNone:
            return "";
        case PathReason::kTcpUndecided:
            return "TCP socket: decided at its connect or listen (the kernel path with XLANE_TCP=0, or =auto without CAP_NET_ADMIN)";
        case PathReason::kNotIpSocket:
            return "not an IP socket";
        case PathReason::kNotTcpOrUdp:
            return "not a TCP or UDP socket";
        case PathReason::kUndecided:
            return "UDP socket: path decided at its first bind, connect or send";
        case PathReason::kRule:
            return "a rule keeps it on the kernel";
        case PathReason::kNotAttached:
            return "xlane not attached";
        case PathReason::kFastPathOwned:
            return "fast path owned by another process";
        case PathReason::kResource:
            return "resource";
        case PathReason::kUnsupportedOption:
            return "unsupported option";
        case PathReason::kForked:
            return "inherited across fork: the parent's fast path serves its flows";
        case PathReason::kProcessExit:
            return "handed back to the kernel at process exit";
    }
    return "unknown reason";
}

SocketEntry classify_socket(int family, int type, int protocol) {
    SocketEntry entry{family, type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC), protocol, SocketPath::kKernel,
                      PathReason::kNone};
    if (family != AF_INET && family != AF_INET6) {
        entry.reason = PathReason::kNotIpSocket;
    } else if (entry.type == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP)) {
        entry.reason = PathReason::kUndecided;
    } else if (entry.type == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP)) {
        entry.reason = PathReason::kTcpUndecided;
    } else {
        entry.reason = PathReason::kNotTcpOrUdp;
    }
    return entry;
}

// Layout of a word: bit 63 = in use; 8 bits each of family, type, path, reason;
// 16 bits of protocol (IPPROTO_MPTCP is 262). Kernel values fit these widths.
namespace {
constexpr uint64_t kInUse = 1ULL << 63;
}

uint64_t SocketTable::pack(const SocketEntry& e) {
    return kInUse | (static_cast<uint64_t>(e.family & 0xff) << 0) |
           (static_cast<uint64_t>(e.type & 0xff) << 8) |
           (static_cast<uint64_t>(e.protocol & 0xffff) << 16) |
           (static_cast<uint64_t>(e.path) << 32) | (static_cast<uint64_t>(e.reason) << 40);
}

SocketEntry SocketTable::unpack(uint64_t w) {
    return SocketEntry{static_cast<int>(w & 0xff), static_cast<int>((w >> 8) & 0xff),
                       static_cast<int>((w >> 16) & 0xffff),
                       static_cast<SocketPath>((w >> 32) & 0xff),
                       static_cast<PathReason>((w >> 40) & 0xff)};
}

bool SocketTable::record(int fd, const SocketEntry& entry) {
    if (fd < 0 || fd >= kCapacity) return false;
    entries_[fd].store(pack(entry), std::memory_order_release);
    const unsigned end = static_cast<unsigned>(fd) + 1;
    unsigned seen = end_fd_.load(std::memory_order_relaxed);
    while (end > seen && !end_fd_.compare_exchange_weak(seen, end, std::memory_order_relaxed)) {
    }
    return true;
}

void SocketTable::copy(int from, int to) {
    if (to < 0 || to >= kCapacity || from == to) return;
    const auto entry = find(from);
    if (entry.has_value()) {
        record(to, *entry);
    } else {
        forget(to);  // dup2 onto a tracked socket closed it
    }
}

void SocketTable::forget(int fd) {
    if (fd < 0 || fd >= kCapacity) return;
    // Skipping the store for unknown fds keeps close() of files from dirtying
    // pages of the table that were never used.
    if (entries_[fd].load(std::memory_order_relaxed) != 0)
        entries_[fd].store(0, std::memory_order_release);
}

void SocketTable::forget_range(unsigned first, unsigned last) {
    const unsigned end = end_fd_.load(std::memory_order_relaxed);
    if (first >= end) return;
    if (last >= end) last = end - 1;
    for (unsigned fd = first; fd <= last; ++fd) forget(static_cast<int>(fd));
}

std::optional<SocketEntry> SocketTable::find(int fd) const {
    if (fd < 0 || fd >= kCapacity) return std::nullopt;
    const uint64_t word = entries_[fd].load(std::memory_order_acquire);
    if ((word & kInUse) == 0) return std::nullopt;
    return unpack(word);
}

}  // namespace xlane::preload
