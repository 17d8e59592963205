// FdStatsTable: which published socket (stats slot) each fd names, so that
// libxlane.so's wrappers publish, update, count and retire by fd number with
// one call each. Lock-free O(1) lookup; dup'd fds share one socket.
#pragma once

#include <atomic>

#include "stats/stats_publisher.h"

namespace xlane::stats {

class FdStatsTable {
  public:
    // Covers the default fs.nr_open (2^20), like the preload's socket table;
    // fds above it go unpublished. Zero-initialised: untouched pages cost nothing.
    static constexpr int kCapacity = 1 << 20;
    using PublisherFn = StatsPublisher& (*)() noexcept;

    explicit constexpr FdStatsTable(PublisherFn publisher) : publisher_(publisher) {}
    FdStatsTable(const FdStatsTable&) = delete;
    FdStatsTable& operator=(const FdStatsTable&) = delete;

    // A new IP socket on `fd` (socket, accept): published with the endpoints
    // the kernel knows for it (getsockname/getpeername, raw syscalls), unless
    // it cannot have any yet (`fresh`: straight from socket()).
    void opened(int fd, int family, int protocol, Path path, Reason reason,
                const char* reason_text = nullptr, bool fresh = false) noexcept;
    // Its path or reason changed, or it was bound or connected: the
    // endpoints are read again. A null text keeps the one published while
    // the reason stays; a new reason gets `new_reason_text` (if given).
    void changed(int fd, Path path, Reason reason, const char* reason_text = nullptr,
                 const char* new_reason_text = nullptr) noexcept;
    // dup/dup2/dup3/fcntl(F_DUPFD): `to` names what `from` names (or nothing).
    void duplicated(int from, int to) noexcept;
    // close(): before or after the real close, either is right.
    void closed(int fd) noexcept;
    // close_range()/closefrom(); bounded by the highest fd ever published.
    void closed_range(unsigned first, unsigned last) noexcept;

    // The slot to count into: count(table.slot(fd), Counter::rx_packets, 1).
    // Null for fds that are not published.
    [[nodiscard]] SocketSlot* slot(int fd) const noexcept {
        if (fd < 0 || fd >= kCapacity) return nullptr;
        return slots_[fd].load(std::memory_order_relaxed);
    }

  private:
    PublisherFn publisher_;
    std::atomic<SocketSlot*> slots_[kCapacity]{};
    std::atomic<int> end_fd_{0};  // one past the highest fd ever published
};

// The process's table, over process_publisher(): what libxlane.so uses.
[[nodiscard]] FdStatsTable& process_fd_stats() noexcept;

}  // namespace xlane::stats
