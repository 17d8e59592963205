// StatsPublisher: the owning side of a process's stats segment (stats_layout.h).
// It publishes, updates and retires sockets and counts with no syscall.
//
// Usable from libxlane.so: every method is noexcept and never throws, nothing
// allocates, every method may be called from any thread, and a failure (no
// /dev/shm, out of slots) only means the socket goes unpublished: count()
// on a null slot does nothing. The segment is created at the first publish().
//
// fork(): in the child, the first operation (the publisher's own atfork
// handler, or any earlier one that calls it) copies the segment into the
// child's own file and maps it at the same addresses, so slots handed out
// before the fork stay valid and the child's counters (reset to zero) land in
// its own segment, never in the parent's. Not for vfork/CLONE_VM children
// (they share the parent's mappings): call nothing here from those.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "stats/stats_layout.h"

namespace xlane::stats {

// What a socket is, as the publisher records it. Strings are copied.
struct SocketInfo {
    int fd = -1;
    int family = 0;    // AF_INET, AF_INET6
    int protocol = 0;  // IPPROTO_UDP, IPPROTO_TCP
    Path path = Path::kernel;
    Reason reason = Reason::none;
    const char* reason_text = nullptr;  // e.g. the rule; truncated to kReasonTextSize - 1
    StatsEndpoint local{};
    StatsEndpoint remote{};
};

// Adds to a counter of a published socket: one relaxed atomic add, no syscall,
// no lock. A null slot (not published) is ignored.
inline void count(SocketSlot* slot, Counter counter, uint64_t amount = 1) noexcept {
    if (slot != nullptr)
        slot->counters[static_cast<size_t>(counter)].fetch_add(amount, std::memory_order_relaxed);
}

class StatsPublisher {
  public:
    static constexpr size_t kPathSize = 256;

    // `directory` holds the segments (kDefaultDirectory when null);
    // `stats_file` is the XLANE_STATS_FILE template (%p = pid), null or empty
    // for none. Both are copied (truncated paths disable the feature).
    StatsPublisher(const char* directory = nullptr, const char* stats_file = nullptr) noexcept;
    // finish(), then unmaps.
    ~StatsPublisher();
    StatsPublisher(const StatsPublisher&) = delete;
    StatsPublisher& operator=(const StatsPublisher&) = delete;

    // A new socket; returns its slot (stable for the life of the publisher)
    // or nullptr when it cannot be published (the reason: last_error()).
    [[nodiscard]] SocketSlot* publish(const SocketInfo& info) noexcept;
    // The socket's path, reason or endpoints changed (bind, connect, fall-back).
    void update(SocketSlot* slot, const SocketInfo& info) noexcept;
    // The same, keeping fd, family and protocol; null endpoints stay as they
    // are. A null text keeps the published one while the reason stays, and
    // becomes `new_reason_text` (if given) when the reason changes: decided
    // here, under the lock, since other threads write the slot too.
    void update_path(SocketSlot* slot, Path path, Reason reason, const char* reason_text,
                     const StatsEndpoint* local = nullptr, const StatsEndpoint* remote = nullptr,
                     const char* new_reason_text = nullptr) noexcept;
    // The socket is shown under fd `to` from now on, if it is shown under
    // `from` (the fd it was published with closed, a dup of it lives on).
    void renumber(SocketSlot* slot, int from, int to) noexcept;
    // One more fd names the socket (dup): it takes one more retire() to go.
    void add_reference(SocketSlot* slot) noexcept;
    // An fd naming the socket closed; with the last one the socket is gone:
    // its summary is appended to XLANE_STATS_FILE and the slot is freed.
    void retire(SocketSlot* slot) noexcept;
    // retire(), telling whether the socket lives on under another fd after
    // losing `fd`, the one it was published with (read under the lock: a
    // thread closing one dup races the thread closing another).
    [[nodiscard]] bool retire_from(SocketSlot* slot, int fd) noexcept;
    // Fast-path counters per interface and ring/UMEM use per AF_XDP socket
    // (at most kMaxPorts and kMaxQueues; replaces both tables at once).
    void set_ports(const PortUsage* ports, size_t count, const QueueUsage* queues = nullptr,
                   size_t queue_count = 0) noexcept;

    // At exit: appends a summary of every socket still open to XLANE_STATS_FILE
    // and removes the segment (readers would otherwise find it stale and
    // remove it themselves). Idempotent; slots stay mapped, so threads still
    // counting after it are harmless.
    void finish() noexcept;
    // At _exit/_Exit (no atexit handlers run): removes the segment, nothing
    // else (no lock, no summaries: the caller may be a signal handler). Only
    // in the process whose file is mapped: never for a vfork child, which
    // shares this memory, nor a fork child that has not taken it over.
    void remove_segment_if_owner() noexcept;

    // The segment's path ("" before the first publish), errno of the last
    // failure to create or grow it (0: none).
    [[nodiscard]] const char* segment_path() const noexcept { return path_; }
    [[nodiscard]] int last_error() const noexcept { return last_error_; }

    // The pthread_atfork child handler (registered by the publisher itself);
    // public for the registry in stats_publisher.cpp only.
    void after_fork_child() noexcept;

  private:
    static constexpr size_t kMaxChunks = 15;  // 64 * 2^14 = kMaxSlots

    bool create_segment_locked() noexcept;
    void take_over_after_fork_locked(int pid) noexcept;
    bool grow_locked() noexcept;
    void retire_locked(SocketSlot* slot) noexcept;
    SocketSlot* slot_at(uint32_t index) const noexcept;
    void write_identity(SocketSlot* slot, const SocketInfo& info) noexcept;
    void append_summary(const SocketSlot* slot, const char* event) noexcept;
    void lock() noexcept;
    void unlock() noexcept;
    bool segment_name(int pid, char* out, size_t size) const noexcept;

    std::atomic<int> lock_{0};  // the holder's pid, 0 when free
    char directory_[kPathSize] = {};
    char stats_file_[kPathSize] = {};
    char path_[kPathSize] = {};
    SegmentHeader* header_ = nullptr;
    size_t chunk0_bytes_ = 0;       // header + first chunk, one mapping
    SocketSlot* chunks_[kMaxChunks] = {};
    uint32_t chunk_count_ = 0;
    uint32_t capacity_ = 0;         // slots mapped
    uint32_t next_unused_ = 0;      // slots never handed out start here
    uint32_t free_head_ = 0;        // retired slots: index + 1, 0 = none
    uint64_t inode_ = 0;            // the segment file, to reopen it safely for growth
    int owner_pid_ = 0;             // the process whose file is mapped
    int last_error_ = 0;
    bool failed_ = false;           // creation failed for good: stop trying
    bool finished_ = false;
    bool registered_ = false;       // in the fork registry
};

}  // namespace xlane::stats
