#include "stats/stats_reader.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <memory>

#include "common/unique_fd.h"
#include "stats/process_identity.h"

namespace xlane::stats {

namespace {

// A read-only mapping of one segment, unmapped on scope exit.
class SegmentMap {
  public:
    SegmentMap(void* base, size_t length) : base_(base), length_(length) {}
    ~SegmentMap() {
        if (base_ != MAP_FAILED) ::munmap(base_, length_);
    }
    SegmentMap(const SegmentMap&) = delete;
    SegmentMap& operator=(const SegmentMap&) = delete;
    [[nodiscard]] const SegmentHeader* header() const { return static_cast<const SegmentHeader*>(base_); }
    [[nodiscard]] size_t length() const { return length_; }

  private:
    void* base_;
    size_t length_;
};

// A seqlock read: retries while the owner is changing the fields (yielding
// now and then, so a writer on the same CPU can finish); gives up (false)
// after many tries, which only a writer stuck mid-update can cause.
template <typename Copy>
bool read_consistent(const std::atomic<uint32_t>& seq, Copy copy) {
    for (int attempt = 0; attempt < 100000; ++attempt) {
        if (attempt % 64 == 63) sched_yield();
        const uint32_t before = seq.load(std::memory_order_acquire);
        if (before & 1u) continue;
        copy();
        std::atomic_thread_fence(std::memory_order_acquire);
        if (seq.load(std::memory_order_relaxed) == before) return true;
    }
    return false;
}

std::string bounded_string(const char* text, size_t size) {
    return std::string(text, strnlen(text, size));
}

Result<ProcessSnapshot> snapshot(const std::string& path, struct stat* file_stat) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return errno_error("cannot open stats segment " + path);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return errno_error("cannot stat stats segment " + path);
    if (file_stat != nullptr) *file_stat = st;
    if (static_cast<size_t>(st.st_size) < sizeof(SegmentHeader))
        return make_error(EAGAIN, path + ": stats segment not initialised yet");
    const auto length = static_cast<size_t>(st.st_size);
    SegmentMap map(::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd.get(), 0), length);
    if (map.header() == MAP_FAILED) return errno_error("cannot map stats segment " + path);
    const SegmentHeader& header = *map.header();
    if (header.magic.load(std::memory_order_acquire) != kMagic)
        return make_error(EAGAIN, path + ": stats segment not initialised yet");
    if (header.version != kLayoutVersion || header.header_size != sizeof(SegmentHeader) ||
        header.slot_size != sizeof(SocketSlot))
        return make_error(EPROTO, path + ": stats layout version " + std::to_string(header.version) +
                                      " (header " + std::to_string(header.header_size) + " B, slot " +
                                      std::to_string(header.slot_size) + " B); this xlane reads version " +
                                      std::to_string(kLayoutVersion) +
                                      ": use the xlane tool that matches the running libxlane.so");

    ProcessSnapshot process;
    process.pid = header.pid;
    process.uid = header.uid;
    process.start_time = header.start_time;
    process.comm = bounded_string(header.comm, sizeof(header.comm));
    process.segment = path;
    process.created_realtime_ns = header.created_realtime_ns;

    const bool ports_ok = read_consistent(header.ports_seq, [&] {
        const uint32_t count = std::min<uint32_t>(header.port_count, kMaxPorts);
        process.ports.assign(header.ports, header.ports + count);
        const uint32_t queues = std::min<uint32_t>(header.queue_count, kMaxQueues);
        process.queues.assign(header.queues, header.queues + queues);
        process.usage_realtime_ns = header.usage_realtime_ns;
    });
    if (!ports_ok) {
        process.ports.clear();
        process.queues.clear();
    }
    for (auto& port : process.ports) port.ifname[sizeof(port.ifname) - 1] = '\0';
    for (auto& queue : process.queues) queue.ifname[sizeof(queue.ifname) - 1] = '\0';

    // Slots beyond what this mapping covers appeared after fstat: next time.
    const uint32_t mapped_slots =
        static_cast<uint32_t>((length - sizeof(SegmentHeader)) / sizeof(SocketSlot));
    const uint32_t slot_count =
        std::min(header.slot_count.load(std::memory_order_acquire), mapped_slots);
    const auto* slots = reinterpret_cast<const SocketSlot*>(reinterpret_cast<const char*>(&header) +
                                                            sizeof(SegmentHeader));
    for (uint32_t index = 0; index < slot_count; ++index) {
        const SocketSlot& slot = slots[index];
        SocketSnapshot socket;
        bool live = false;
        char reason_text[kReasonTextSize];
        const bool consistent = read_consistent(slot.seq, [&] {
            live = slot.state.load(std::memory_order_relaxed) == static_cast<uint32_t>(SlotState::live);
            socket.fd = slot.fd;
            socket.family = slot.family;
            socket.protocol = slot.protocol;
            socket.path = static_cast<Path>(slot.path);
            socket.reason = static_cast<Reason>(slot.reason);
            socket.local = slot.local;
            socket.remote = slot.remote;
            socket.opened_realtime_ns = slot.opened_realtime_ns;
            std::memcpy(reason_text, slot.reason_text, sizeof(reason_text));
        });
        if (!consistent || !live) continue;
        socket.slot = index;
        socket.reason_text = bounded_string(reason_text, sizeof(reason_text));
        for (size_t c = 0; c < kCounterCount; ++c)
            socket.counters[c] = slot.counters[c].load(std::memory_order_relaxed);
        process.sockets.push_back(std::move(socket));
    }
    return process;
}

// Does `pid` map the file with this device and inode? nullopt when its maps
// cannot be read (another user's process without privileges, or gone).
std::optional<bool> maps_file(int pid, const struct stat& st) {
    std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
    if (!maps) return std::nullopt;
    const std::string inode = std::to_string(st.st_ino);
    std::string line;
    bool any = false;
    while (std::getline(maps, line)) {
        any = true;
        // address perms offset dev inode path
        size_t field_start = 0;
        for (int field = 0; field < 4 && field_start != std::string::npos; ++field) {
            field_start = line.find(' ', field_start);
            if (field_start != std::string::npos) field_start = line.find_first_not_of(' ', field_start);
        }
        if (field_start == std::string::npos) continue;
        const size_t field_end = line.find(' ', field_start);
        if (line.compare(field_start, field_end - field_start, inode) == 0 &&
            line.find("xlane-stats.", field_end) != std::string::npos)
            return true;
    }
    // An empty read: a zombie, or maps hidden from us; not proof of anything.
    if (!any) return std::nullopt;
    return false;
}

}  // namespace

std::optional<int> segment_pid(const std::string& file_name) {
    const std::string prefix = kSegmentPrefix;
    if (file_name.size() <= prefix.size() || file_name.compare(0, prefix.size(), prefix) != 0)
        return std::nullopt;
    int pid = 0;
    const char* first = file_name.data() + prefix.size();
    const char* last = file_name.data() + file_name.size();
    auto [end, ec] = std::from_chars(first, last, pid);
    if (ec != std::errc() || end != last || pid <= 0) return std::nullopt;
    return pid;
}

std::string to_string(const StatsEndpoint& endpoint) {
    char text[kEndpointTextSize];
    return format_endpoint(endpoint, text, sizeof(text));
}

Result<ProcessSnapshot> read_segment(const std::string& path) {
    return snapshot(path, nullptr);
}

Result<ReadReport> read_segments(const ReadOptions& options) {
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(options.directory.c_str()), ::closedir);
    if (!dir) return errno_error("cannot list the stats directory " + options.directory);
    ReadReport report;
    std::vector<std::pair<int, std::string>> segments;
    while (const dirent* entry = ::readdir(dir.get())) {
        const auto pid = segment_pid(entry->d_name);
        if (!pid || (options.pid && *options.pid != *pid)) continue;
        segments.emplace_back(*pid, options.directory + "/" + entry->d_name);
    }
    std::sort(segments.begin(), segments.end());

    for (const auto& [pid, path] : segments) {
        const uint64_t running_since = process_start_time(pid);
        struct stat st {};
        auto process = snapshot(path, &st);
        bool stale = running_since == 0;  // no such process
        if (process) {
            if (process->pid != pid) {
                report.problems.push_back(make_error(
                    0, path + ": names pid " + std::to_string(pid) + " but was written by pid " +
                           std::to_string(process->pid) + "; ignored"));
                continue;
            }
            // Same pid, other start time: the owner died and the pid was reused.
            if (running_since != 0 && process->start_time != running_since) stale = true;
            // Same process, but it no longer maps the segment: it exec'd a
            // program without libxlane.so (or the segment was replaced).
            if (!stale && maps_file(pid, st) == std::optional<bool>(false)) stale = true;
        } else if (process.error().errnum == EACCES || process.error().errnum == EPERM) {
            ++report.unreadable;  // another user's process: only root may look
            continue;
        } else if (!stale) {
            // Being created right now (EAGAIN) or unreadable: skip it this time.
            if (process.error().errnum != EAGAIN && process.error().errnum != ENOENT)
                report.problems.push_back(process.error());
            continue;
        }
        if (stale) {
            if (options.remove_stale && ::unlink(path.c_str()) == 0) report.removed.push_back(path);
            continue;
        }
        report.processes.push_back(std::move(process.value()));
    }
    return report;
}

}  // namespace xlane::stats
