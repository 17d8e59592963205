#include "stats/stats_publisher.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/high_fd.h"
#include "stats/process_identity.h"

namespace xlane::stats {

namespace {

// Every file operation goes through raw syscalls: inside libxlane.so, close()
// and write() are our own wrappers, which may call back into the publisher.
// Above the application's descriptors (common/high_fd.h).
int sys_open(const char* path, int flags, mode_t mode = 0) {
    return move_fd_high(static_cast<int>(::syscall(SYS_openat, AT_FDCWD, path, flags, mode)));
}
void sys_close(int fd) {
    ::syscall(SYS_close, fd);
}
bool sys_write_all(int fd, const char* data, size_t length) {
    while (length > 0) {
        const long n = ::syscall(SYS_write, fd, data, length);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data += n;
        length -= static_cast<size_t>(n);
    }
    return true;
}
bool sys_pwrite_all(int fd, const void* data, size_t length, off_t offset) {
    const char* bytes = static_cast<const char*>(data);
    while (length > 0) {
        const long n = ::syscall(SYS_pwrite64, fd, bytes, length, offset);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        bytes += n;
        length -= static_cast<size_t>(n);
        offset += n;
    }
    return true;
}

uint64_t now_ns(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

bool copy_string(char* out, size_t size, const char* in) {
    if (in == nullptr) in = "";
    const size_t length = std::strlen(in);
    if (length >= size) {
        out[0] = '\0';
        return false;
    }
    std::memcpy(out, in, length + 1);
    return true;
}

// Chunk n >= 1 holds kFirstChunkSlots << (n - 1) slots and starts after the
// kFirstChunkSlots << (n - 1) slots before it; chunk 0 shares a mapping with
// the header.
constexpr uint32_t chunk_first_slot(uint32_t chunk) {
    return chunk == 0 ? 0 : kFirstChunkSlots << (chunk - 1);
}
constexpr uint32_t chunk_slots(uint32_t chunk) {
    return chunk == 0 ? kFirstChunkSlots : kFirstChunkSlots << (chunk - 1);
}
constexpr off_t slot_offset(uint32_t index) {
    return static_cast<off_t>(sizeof(SegmentHeader)) + static_cast<off_t>(index) * sizeof(SocketSlot);
}
static_assert(slot_offset(kFirstChunkSlots) % 4096 == 0, "chunks must start on a page");

// Appends a JSON string (quotes included) to [*cursor, end).
void append_json_string(char*& cursor, char* end, const char* text) {
    auto put = [&](char c) {
        if (cursor + 1 < end) *cursor++ = c;
    };
    put('"');
    for (const unsigned char* p = reinterpret_cast<const unsigned char*>(text); *p != 0; ++p) {
        if (*p == '"' || *p == '\\') {
            put('\\');
            put(static_cast<char>(*p));
        } else if (*p < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof(escaped), "\\u%04x", *p);
            for (const char* e = escaped; *e != 0; ++e) put(*e);
        } else {
            put(static_cast<char>(*p));
        }
    }
    put('"');
    *cursor = '\0';
}

void append_format(char*& cursor, char* end, const char* format, auto... args) {
    if (cursor >= end) return;
    const int n = std::snprintf(cursor, static_cast<size_t>(end - cursor), format, args...);
    if (n > 0) cursor += std::min<long>(n, end - cursor - 1);
}

// ---- the fork registry: every publisher with a segment, for pthread_atfork ----

constexpr size_t kRegistrySize = 32;
std::atomic<StatsPublisher*> g_registry[kRegistrySize];
std::atomic<bool> g_atfork_installed{false};

void atfork_child() {
    for (auto& entry : g_registry)
        if (StatsPublisher* publisher = entry.load(std::memory_order_acquire)) publisher->after_fork_child();
}

bool register_for_fork(StatsPublisher* publisher) {
    if (!g_atfork_installed.exchange(true)) {
        if (pthread_atfork(nullptr, nullptr, atfork_child) != 0) {
            g_atfork_installed.store(false);
            return false;
        }
    }
    for (auto& entry : g_registry) {
        StatsPublisher* expected = nullptr;
        if (entry.compare_exchange_strong(expected, publisher)) return true;
    }
    return false;
}

void unregister_for_fork(StatsPublisher* publisher) {
    for (auto& entry : g_registry) {
        StatsPublisher* expected = publisher;
        entry.compare_exchange_strong(expected, nullptr);
    }
}

}  // namespace

StatsPublisher::StatsPublisher(const char* directory, const char* stats_file) noexcept {
    if (!copy_string(directory_, sizeof(directory_),
                     directory != nullptr && directory[0] != '\0' ? directory : kDefaultDirectory)) {
        failed_ = true;
        last_error_ = ENAMETOOLONG;
    }
    if (!copy_string(stats_file_, sizeof(stats_file_), stats_file)) stats_file_[0] = '\0';
}

StatsPublisher::~StatsPublisher() {
    finish();
    if (registered_) unregister_for_fork(this);
    for (uint32_t chunk = 1; chunk < chunk_count_; ++chunk)
        ::munmap(chunks_[chunk], chunk_slots(chunk) * sizeof(SocketSlot));
    if (header_ != nullptr) ::munmap(header_, chunk0_bytes_);
}

void StatsPublisher::lock() noexcept {
    // Taken only to add, change or remove a socket, never to count; the
    // holder does at most a few syscalls, so spin a little, then yield. The
    // lock word is the holder's pid: in a forked child, a lock held by a
    // parent thread (which does not exist here) is taken over.
    const int me = static_cast<int>(::getpid());
    for (unsigned spins = 0;; ++spins) {
        int holder = 0;
        if (lock_.compare_exchange_weak(holder, me, std::memory_order_acquire)) break;
        if (holder != 0 && holder != me &&
            lock_.compare_exchange_strong(holder, me, std::memory_order_acquire))
            break;
        if (spins > 64) sched_yield();
    }
    // First operation in a forked child (from its atfork handler, or from
    // whichever handler of the program's runs first): take the segment over.
    if (header_ != nullptr && owner_pid_ != me && !finished_) take_over_after_fork_locked(me);
}

void StatsPublisher::unlock() noexcept {
    lock_.store(0, std::memory_order_release);
}

bool StatsPublisher::segment_name(int pid, char* out, size_t size) const noexcept {
    const int n = std::snprintf(out, size, "%s/%s%d", directory_, kSegmentPrefix, pid);
    return n > 0 && static_cast<size_t>(n) < size;
}

bool StatsPublisher::create_segment_locked() noexcept {
    if (failed_ || finished_) return false;
    const int pid = static_cast<int>(::getpid());
    char path[kPathSize];
    if (!segment_name(pid, path, sizeof(path))) {
        last_error_ = ENAMETOOLONG;
        failed_ = true;
        return false;
    }
    int fd = sys_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno == EEXIST) {
        // A file named after our own pid is ours: left by the program this
        // process exec'd from, or by a dead process with the same pid. A file
        // of another user cannot be removed from the sticky /dev/shm: then
        // stats stay off (the open below fails again).
        ::unlink(path);
        fd = sys_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    }
    if (fd < 0) {
        last_error_ = errno;
        failed_ = true;
        return false;
    }
    const size_t bytes = static_cast<size_t>(slot_offset(kFirstChunkSlots));
    struct stat st {};
    void* map = MAP_FAILED;
    if (::fchmod(fd, 0600) == 0 && ::ftruncate(fd, static_cast<off_t>(bytes)) == 0 &&
        ::fstat(fd, &st) == 0)
        map = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    const int saved = errno;
    sys_close(fd);
    if (map == MAP_FAILED) {
        ::unlink(path);
        last_error_ = saved;
        failed_ = true;
        return false;
    }
    std::memcpy(path_, path, sizeof(path_));
    inode_ = st.st_ino;
    owner_pid_ = pid;
    header_ = static_cast<SegmentHeader*>(map);
    chunk0_bytes_ = bytes;
    chunks_[0] = reinterpret_cast<SocketSlot*>(static_cast<char*>(map) + sizeof(SegmentHeader));
    chunk_count_ = 1;
    capacity_ = kFirstChunkSlots;

    header_->version = kLayoutVersion;
    header_->header_size = sizeof(SegmentHeader);
    header_->slot_size = sizeof(SocketSlot);
    header_->max_slots = kMaxSlots;
    header_->pid = pid;
    header_->uid = ::geteuid();
    header_->start_time = process_start_time(pid);
    header_->created_realtime_ns = now_ns(CLOCK_REALTIME);
    ::prctl(PR_GET_NAME, header_->comm, 0, 0, 0);
    header_->comm[kCommSize - 1] = '\0';
    header_->slot_count.store(capacity_, std::memory_order_relaxed);
    header_->magic.store(kMagic, std::memory_order_release);
    registered_ = register_for_fork(this);
    return true;
}

bool StatsPublisher::grow_locked() noexcept {
    if (chunk_count_ >= kMaxChunks) {
        last_error_ = ENOSPC;
        return false;
    }
    const uint32_t chunk = chunk_count_;
    const size_t bytes = chunk_slots(chunk) * sizeof(SocketSlot);
    const off_t offset = slot_offset(chunk_first_slot(chunk));
    // Reopened by name rather than kept open: a program may close every fd
    // it did not open (closefrom), or reuse its number.
    const int fd = sys_open(path_, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        last_error_ = errno;
        return false;
    }
    struct stat st {};
    void* map = MAP_FAILED;
    if (::fstat(fd, &st) != 0) {
        // errno says why
    } else if (st.st_ino != inode_) {
        errno = ESTALE;  // not our file any more (removed and replaced): leave it alone
    } else if (::ftruncate(fd, offset + static_cast<off_t>(bytes)) == 0) {
        map = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
    }
    const int saved = errno;
    sys_close(fd);
    if (map == MAP_FAILED) {
        last_error_ = saved;
        return false;
    }
    chunks_[chunk] = static_cast<SocketSlot*>(map);
    chunk_count_ = chunk + 1;
    capacity_ += chunk_slots(chunk);
    header_->slot_count.store(capacity_, std::memory_order_release);
    return true;
}

SocketSlot* StatsPublisher::slot_at(uint32_t index) const noexcept {
    if (index < kFirstChunkSlots) return chunks_[0] + index;
    const auto chunk = static_cast<uint32_t>(std::bit_width(index / kFirstChunkSlots));
    return chunks_[chunk] + (index - chunk_first_slot(chunk));
}

void StatsPublisher::write_identity(SocketSlot* slot, const SocketInfo& info) noexcept {
    const uint32_t seq = slot->seq.load(std::memory_order_relaxed);
    slot->seq.store(seq + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    slot->fd = info.fd;
    slot->family = static_cast<uint16_t>(info.family);
    slot->protocol = static_cast<uint8_t>(info.protocol);
    slot->path = static_cast<uint8_t>(info.path);
    slot->reason = static_cast<uint8_t>(info.reason);
    slot->local = info.local;
    slot->remote = info.remote;
    const char* text = info.reason_text != nullptr ? info.reason_text : "";
    const size_t length = std::min(std::strlen(text), kReasonTextSize - 1);
    std::memcpy(slot->reason_text, text, length);
    std::memset(slot->reason_text + length, 0, kReasonTextSize - length);
    slot->seq.store(seq + 2, std::memory_order_release);
}

SocketSlot* StatsPublisher::publish(const SocketInfo& info) noexcept {
    lock();
    SocketSlot* slot = nullptr;
    uint32_t index = 0;
    if (header_ != nullptr || create_segment_locked()) {
        if (finished_) {
            // at exit: the segment is gone, nothing to publish into
        } else if (free_head_ != 0) {
            index = free_head_ - 1;
            slot = slot_at(index);
            free_head_ = slot->next_free;
        } else if (next_unused_ < capacity_ || grow_locked()) {
            index = next_unused_++;
            slot = slot_at(index);
        }
    }
    if (slot != nullptr) {
        for (auto& counter : slot->counters) counter.store(0, std::memory_order_relaxed);
        slot->next_free = 0;
        slot->refs = 1;
        slot->opened_realtime_ns = now_ns(CLOCK_REALTIME);
        write_identity(slot, info);
        // Live only once the identity is there: a reader skips free slots.
        slot->state.store(static_cast<uint32_t>(SlotState::live), std::memory_order_release);
    }
    unlock();
    return slot;
}

void StatsPublisher::update(SocketSlot* slot, const SocketInfo& info) noexcept {
    if (slot == nullptr) return;
    lock();
    if (slot->state.load(std::memory_order_relaxed) == static_cast<uint32_t>(SlotState::live))
        write_identity(slot, info);
    unlock();
}

void StatsPublisher::update_path(SocketSlot* slot, Path path, Reason reason, const char* reason_text,
                                 const StatsEndpoint* local, const StatsEndpoint* remote,
                                 const char* new_reason_text) noexcept {
    if (slot == nullptr) return;
    lock();
    if (slot->state.load(std::memory_order_relaxed) == static_cast<uint32_t>(SlotState::live)) {
        SocketInfo info;
        info.fd = slot->fd;
        info.family = slot->family;
        info.protocol = slot->protocol;
        info.path = path;
        info.reason = reason;
        char kept[kReasonTextSize];
        if (reason_text == nullptr && new_reason_text != nullptr &&
            slot->reason != static_cast<uint8_t>(reason))
            reason_text = new_reason_text;
        if (reason_text == nullptr) {
            std::memcpy(kept, slot->reason_text, sizeof(kept));
            kept[sizeof(kept) - 1] = '\0';
            reason_text = kept;
        }
        info.reason_text = reason_text;
        info.local = local != nullptr ? *local : slot->local;
        info.remote = remote != nullptr ? *remote : slot->remote;
        write_identity(slot, info);
    }
    unlock();
}

void StatsPublisher::renumber(SocketSlot* slot, int from, int to) noexcept {
    if (slot == nullptr) return;
    lock();
    if (slot->state.load(std::memory_order_relaxed) == static_cast<uint32_t>(SlotState::live) &&
        slot->fd == from) {
        SocketInfo info;
        info.fd = to;
        info.family = slot->family;
        info.protocol = slot->protocol;
        info.path = static_cast<Path>(slot->path);
        info.reason = static_cast<Reason>(slot->reason);
        char text[kReasonTextSize];
        std::memcpy(text, slot->reason_text, sizeof(text));
        info.reason_text = text;
        info.local = slot->local;
        info.remote = slot->remote;
        write_identity(slot, info);
    }
    unlock();
}

void StatsPublisher::add_reference(SocketSlot* slot) noexcept {
    if (slot == nullptr) return;
    lock();
    if (slot->state.load(std::memory_order_relaxed) == static_cast<uint32_t>(SlotState::live)) ++slot->refs;
    unlock();
}

void StatsPublisher::retire(SocketSlot* slot) noexcept {
    if (slot == nullptr) return;
    lock();
    retire_locked(slot);
    unlock();
}

bool StatsPublisher::retire_from(SocketSlot* slot, int fd) noexcept {
    if (slot == nullptr) return false;
    lock();
    const bool lives_on = slot->state.load(std::memory_order_relaxed) ==
                              static_cast<uint32_t>(SlotState::live) &&
                          slot->refs > 1 && slot->fd == fd;
    retire_locked(slot);
    unlock();
    return lives_on;
}

void StatsPublisher::retire_locked(SocketSlot* slot) noexcept {
    if (slot->state.load(std::memory_order_relaxed) == static_cast<uint32_t>(SlotState::live) &&
        (slot->refs <= 1 || --slot->refs == 0)) {
        append_summary(slot, "close");
        const uint32_t seq = slot->seq.load(std::memory_order_relaxed);
        slot->seq.store(seq + 1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_release);
        slot->state.store(static_cast<uint32_t>(SlotState::free), std::memory_order_relaxed);
        slot->seq.store(seq + 2, std::memory_order_release);
        // Find the slot's index for the free list (at most kMaxChunks ranges).
        for (uint32_t chunk = 0; chunk < chunk_count_; ++chunk) {
            if (slot >= chunks_[chunk] && slot < chunks_[chunk] + chunk_slots(chunk)) {
                slot->next_free = free_head_;
                free_head_ = chunk_first_slot(chunk) + static_cast<uint32_t>(slot - chunks_[chunk]) + 1;
                break;
            }
        }
    }
}

void StatsPublisher::set_ports(const PortUsage* ports, size_t count, const QueueUsage* queues,
                               size_t queue_count) noexcept {
    lock();
    if (header_ != nullptr || create_segment_locked()) {
        if (count > kMaxPorts) count = kMaxPorts;
        if (queue_count > kMaxQueues) queue_count = kMaxQueues;
        const uint32_t seq = header_->ports_seq.load(std::memory_order_relaxed);
        header_->ports_seq.store(seq + 1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_release);
        header_->port_count = static_cast<uint32_t>(count);
        if (count > 0) std::memcpy(header_->ports, ports, count * sizeof(PortUsage));
        header_->queue_count = static_cast<uint32_t>(queue_count);
        if (queue_count > 0) std::memcpy(header_->queues, queues, queue_count * sizeof(QueueUsage));
        timespec now{};
        ::clock_gettime(CLOCK_REALTIME, &now);  // vDSO: no system call
        header_->usage_realtime_ns =
            static_cast<uint64_t>(now.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(now.tv_nsec);
        header_->ports_seq.store(seq + 2, std::memory_order_release);
    }
    unlock();
}

void StatsPublisher::append_summary(const SocketSlot* slot, const char* event) noexcept {
    if (stats_file_[0] == '\0' || header_ == nullptr) return;
    // The file name: %p -> this pid, %% -> %.
    char path[kPathSize + 16];
    size_t out = 0;
    for (const char* in = stats_file_; *in != '\0' && out + 12 < sizeof(path); ++in) {
        if (in[0] == '%' && in[1] == 'p') {
            out += static_cast<size_t>(std::snprintf(path + out, sizeof(path) - out, "%d", header_->pid));
            ++in;
        } else if (in[0] == '%' && in[1] == '%') {
            path[out++] = '%';
            ++in;
        } else {
            path[out++] = *in;
        }
    }
    path[out] = '\0';

    char line[1536];
    char* cursor = line;
    char* const end = line + sizeof(line) - 2;  // room for "\n\0"
    char protocol[8];
    char local[kEndpointTextSize];
    char remote[kEndpointTextSize];
    const uint64_t now = now_ns(CLOCK_REALTIME);
    append_format(cursor, end, "{\"event\":\"%s\",\"pid\":%d,\"comm\":", event, header_->pid);
    append_json_string(cursor, end, header_->comm);
    append_format(cursor, end, ",\"fd\":%d,\"proto\":\"%s\",\"family\":\"%s\",\"local\":", slot->fd,
                  protocol_name(slot->protocol, protocol),
                  slot->family == AF_INET6 ? "inet6" : slot->family == AF_INET ? "inet" : "other");
    if (slot->local.set)
        append_json_string(cursor, end, format_endpoint(slot->local, local, sizeof(local)));
    else
        append_format(cursor, end, "null");
    append_format(cursor, end, ",\"remote\":");
    if (slot->remote.set)
        append_json_string(cursor, end, format_endpoint(slot->remote, remote, sizeof(remote)));
    else
        append_format(cursor, end, "null");
    append_format(cursor, end, ",\"path\":\"%s\",\"reason\":\"%s\",\"reason_text\":",
                  name(static_cast<Path>(slot->path)), name(static_cast<Reason>(slot->reason)));
    append_json_string(cursor, end, slot->reason_text);
    append_format(cursor, end, ",\"seconds_open\":%.3f",
                  static_cast<double>(now - slot->opened_realtime_ns) / 1e9);
    for (size_t i = 0; i < kCounterCount; ++i)
        append_format(cursor, end, ",\"%s\":%llu", name(static_cast<Counter>(i)),
                      static_cast<unsigned long long>(slot->counters[i].load(std::memory_order_relaxed)));
    append_format(cursor, end, "}");
    *cursor++ = '\n';
    *cursor = '\0';

    // One write per line with O_APPEND: lines of several processes never interleave.
    const int fd = sys_open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        last_error_ = errno;
        return;
    }
    if (!sys_write_all(fd, line, static_cast<size_t>(cursor - line))) last_error_ = errno;
    sys_close(fd);
}

void StatsPublisher::finish() noexcept {
    lock();
    if (!finished_ && header_ != nullptr) {
        for (uint32_t index = 0; index < next_unused_; ++index) {
            const SocketSlot* slot = slot_at(index);
            if (slot->state.load(std::memory_order_relaxed) == static_cast<uint32_t>(SlotState::live))
                append_summary(slot, "exit");
        }
        ::unlink(path_);
    }
    finished_ = true;
    unlock();
}

void StatsPublisher::remove_segment_if_owner() noexcept {
    if (finished_ || path_[0] == '\0') return;
    if (owner_pid_ != static_cast<int>(::syscall(SYS_getpid))) return;
    ::unlink(path_);
}

void StatsPublisher::after_fork_child() noexcept {
    lock();  // takes the segment over
    unlock();
}

void StatsPublisher::take_over_after_fork_locked(int pid) noexcept {
    char path[kPathSize];
    int fd = -1;
    if (segment_name(pid, path, sizeof(path))) {
        fd = sys_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 && errno == EEXIST) {
            ::unlink(path);
            fd = sys_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        }
    }
    // Copy the parent's segment into ours, then map ours over the very same
    // addresses: the slots the child inherited stay valid pointers.
    bool ok = fd >= 0 && ::ftruncate(fd, slot_offset(capacity_)) == 0 &&
              sys_pwrite_all(fd, header_, chunk0_bytes_, 0);
    for (uint32_t chunk = 1; ok && chunk < chunk_count_; ++chunk)
        ok = sys_pwrite_all(fd, chunks_[chunk], chunk_slots(chunk) * sizeof(SocketSlot),
                            slot_offset(chunk_first_slot(chunk)));
    ok = ok && ::mmap(header_, chunk0_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
                      0) != MAP_FAILED;
    for (uint32_t chunk = 1; ok && chunk < chunk_count_; ++chunk)
        ok = ::mmap(chunks_[chunk], chunk_slots(chunk) * sizeof(SocketSlot), PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_FIXED, fd, slot_offset(chunk_first_slot(chunk))) != MAP_FAILED;
    struct stat st {};
    ok = ok && ::fstat(fd, &st) == 0;
    const int saved = errno;
    if (fd >= 0) sys_close(fd);
    owner_pid_ = pid;
    if (!ok) {
        // Never write into the parent's segment: private zeroed memory over
        // every mapping (the slots stay valid pointers, counting goes nowhere).
        if (fd >= 0) ::unlink(path);
        ::mmap(header_, chunk0_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
               -1, 0);
        for (uint32_t chunk = 1; chunk < chunk_count_; ++chunk)
            ::mmap(chunks_[chunk], chunk_slots(chunk) * sizeof(SocketSlot), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        last_error_ = saved;
        failed_ = true;
        finished_ = true;  // nothing to summarise or unlink
        return;
    }
    std::memcpy(path_, path, sizeof(path_));
    inode_ = st.st_ino;
    header_->pid = pid;
    header_->start_time = process_start_time(pid);
    header_->created_realtime_ns = now_ns(CLOCK_REALTIME);
    for (uint32_t index = 0; index < next_unused_; ++index) {
        SocketSlot* slot = slot_at(index);
        // Counters count what this process does; the parent's stay in its segment.
        for (auto& counter : slot->counters) counter.store(0, std::memory_order_relaxed);
        // A parent thread that was rewriting this slot does not exist here.
        const uint32_t seq = slot->seq.load(std::memory_order_relaxed);
        if (seq & 1u) slot->seq.store(seq + 1, std::memory_order_relaxed);
    }
    const uint32_t ports_seq = header_->ports_seq.load(std::memory_order_relaxed);
    if (ports_seq & 1u) header_->ports_seq.store(ports_seq + 1, std::memory_order_relaxed);
}

}  // namespace xlane::stats
