// Lazily created process-wide state of the fast path: settings, rules, the
// engine, and the fork/exit handlers. Storage is constant-initialised (no
// static constructor runs), objects are built in place at first need.
#include "runtime.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>

#include "fast_path.h"
#include "fast_socket.h"
#include "fast_tcp.h"
#include "fast_udp.h"
#include "log.h"
#include "readiness_support.h"
#include "stats/process_publisher.h"

namespace xlane::preload {
namespace {

// Raw storage for an object built in place at first need and never
// destroyed (a destructor at exit could run while other threads still
// read it).
template <typename T>
struct Lazy {
    alignas(T) unsigned char bytes[sizeof(T)];
    T& get() { return *std::launder(reinterpret_cast<T*>(bytes)); }
};

constinit std::mutex g_config_mutex;
constinit std::atomic<bool> g_config_ready{false};
constinit Lazy<config::Settings> g_settings{};
constinit Lazy<config::RuleSet> g_rules{};

constinit std::mutex g_engine_mutex;
constinit std::atomic<engine::UdpEngine*> g_engine{nullptr};
constinit std::atomic<pid_t> g_engine_pid{0};
// After a failed creation: when to try again, and what to say meanwhile.
constinit uint64_t g_retry_after_ns = 0;
constinit PathReason g_failure_reason = PathReason::kNone;
constinit Lazy<std::string> g_failure_detail{};
constinit bool g_failure_detail_built = false;
// The engine's descriptors, for a forked child to close (see fork below).
constexpr size_t kMaxEngineFds = 512;
constinit int g_engine_fds[kMaxEngineFds] = {};
constinit std::atomic<size_t> g_engine_fd_count{0};
constexpr size_t kMaxRxFds = 64;
constinit int g_rx_fds[kMaxRxFds] = {};
constinit std::atomic<size_t> g_rx_fd_count{0};
constinit std::atomic<bool> g_fork_handler_registered{false};
constinit std::atomic<bool> g_exit_handler_registered{false};

constexpr uint64_t kRetryIntervalNs = 2'000'000'000;

void load_config_locked() {
    auto loaded = config::load_settings_from_environment();
    new (g_settings.bytes) config::Settings(std::move(loaded.settings));
    const config::Settings& s = g_settings.get();
    configure_log(static_cast<LogLevel>(s.log_level), s.log_file);
    for (const Error& problem : loaded.problems) log_line(LogLevel::warn, problem.message);
    auto rules = config::RuleSet::load(s);
    if (rules) {
        new (g_rules.bytes) config::RuleSet(std::move(rules).value());
    } else {
        const std::string why =
            "rules file unusable, every socket stays with the kernel: " + rules.error().describe();
        log_line(LogLevel::error, why);
        new (g_rules.bytes) config::RuleSet(config::RuleSet::kernel_only(why));
    }
    g_config_ready.store(true, std::memory_order_release);
}

void ensure_config() {
    if (g_config_ready.load(std::memory_order_acquire)) return;
    std::lock_guard lock(g_config_mutex);
    if (!g_config_ready.load(std::memory_order_relaxed)) load_config_locked();
}

// The progress thread takes no signal (they belong to the application's
// threads) and its socket calls are the engine's own.
void progress_thread_start() {
    sigset_t all;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
    mark_engine_thread();
}

// Child of fork(): single-threaded, and the parent's threads (the engine's
// progress thread among them) do not exist here; any lock may have been
// held at the fork. Nothing here locks or allocates.
void after_fork_child() {
    forget_thread_id_after_fork();
    new (&g_engine_mutex) std::mutex;
    new (&g_config_mutex) std::mutex;
    if (g_engine.load(std::memory_order_relaxed) != nullptr) {
        // Holding copies of the AF_XDP sockets would keep the parent's
        // xlane_xsks slots alive after the parent exits (its flows would
        // then go nowhere); holding the lock would keep the interface owned.
        const size_t count = g_engine_fd_count.load(std::memory_order_relaxed);
        for (size_t i = 0; i < count; ++i) ::syscall(SYS_close, g_engine_fds[i]);
    }
    // The parent's engine object is left as it is (its destructor would
    // join a thread that does not exist here); the child may create its own.
    g_engine.store(nullptr, std::memory_order_relaxed);
    g_engine_fd_count.store(0, std::memory_order_relaxed);
    g_rx_fd_count.store(0, std::memory_order_relaxed);
    g_retry_after_ns = 0;
    fast::abandon_all_after_fork();
    log_after_fork_child();
}

// Parent, before fork(): listeners the child shares go to the kernel (the
// child cannot reach this process's engine).
void before_fork() {
    fast::tcp::hand_listeners_to_kernel_before_fork();
    fast::tcp::hand_connections_to_kernel_before_fork();
}

void register_fork_handler_once() {
    if (!g_fork_handler_registered.exchange(true))
        ::pthread_atfork(before_fork, nullptr, after_fork_child);
}

void exit_handler() {
    // Only the process that created the engine; a child has none.
    if (g_engine.load(std::memory_order_acquire) == nullptr) return;
    if (g_engine_pid.load(std::memory_order_relaxed) != static_cast<pid_t>(::syscall(SYS_getpid)))
        return;
    fast::release_all_for_exit();
}

PathReason reason_for(const Error& error) {
    if (error.errnum == ENODEV) return PathReason::kNotAttached;
    if (error.errnum == EBUSY) return PathReason::kFastPathOwned;
    return PathReason::kResource;
}

std::string reason_text(PathReason reason, const Error& error) {
    switch (reason) {
        case PathReason::kNotAttached:
            return "xlane not attached: " + error.describe();
        case PathReason::kFastPathOwned: {
            // "... owned by pid N (lock ...)": keep the pid in the short form.
            const std::string& text = error.message;
            const auto at = text.find("owned by pid ");
            if (at != std::string::npos) {
                const auto end = text.find(' ', at + 13);
                return "fast path owned by pid " + text.substr(at + 13, end - (at + 13)) + ": " +
                       error.describe();
            }
            return "fast path owned by another process: " + error.describe();
        }
        default:
            return "resource: " + error.describe();
    }
}

// The engine's port counters and ring/UMEM use, copied into the stats
// segment's tables (`xlane stats`); runs on the progress thread.
void publish_usage(const std::vector<engine::PortUsageSample>& samples) {
    stats::PortUsage ports[stats::kMaxPorts]{};
    stats::QueueUsage queues[stats::kMaxQueues]{};
    size_t port_count = 0;
    size_t queue_count = 0;
    for (const auto& sample : samples) {
        if (port_count == stats::kMaxPorts) break;
        stats::PortUsage& port = ports[port_count++];
        std::snprintf(port.ifname, sizeof(port.ifname), "%s", sample.ifname.c_str());
        const engine::PortStats& c = sample.stats;
        port.queues = static_cast<uint32_t>(sample.queues.size());
        port.rx_frames = c.rx_frames;
        port.rx_bytes = c.rx_bytes;
        port.rx_delivered = c.rx_delivered;
        port.rx_dropped_no_socket = c.rx_dropped_no_socket;
        port.rx_dropped_queue_full = c.rx_dropped_queue_full;
        port.rx_dropped_bad = c.rx_dropped_bad_checksum + c.rx_dropped_malformed;
        port.rx_dropped_other_proto = c.rx_dropped_not_udp;
        port.tx_datagrams = c.tx_datagrams;
        port.tx_frames = c.tx_frames;
        port.tx_bytes = c.tx_bytes;
        port.tx_ring_full = c.tx_ring_full_waits;
        port.rx_joined = c.rx_joined;
        port.rx_partial_checksum = c.rx_partial_checksum;
        for (const auto& q : sample.queues) {
            if (queue_count == stats::kMaxQueues) break;
            stats::QueueUsage& queue = queues[queue_count++];
            std::snprintf(queue.ifname, sizeof(queue.ifname), "%s", sample.ifname.c_str());
            queue.queue = q.queue;
            queue.rx_ring_size = q.usage.rx.size;
            queue.tx_ring_size = q.usage.tx.size;
            queue.fill_ring_size = q.usage.fill.size;
            queue.completion_ring_size = q.usage.completion.size;
            queue.rx_ring_used = q.usage.rx.used;
            queue.tx_ring_used = q.usage.tx.used;
            queue.fill_ring_used = q.usage.fill.used;
            queue.completion_ring_used = q.usage.completion.used;
            queue.umem_frames = q.usage.umem_frames;
            queue.umem_frames_free = q.usage.umem_frames_free;
            queue.tx_in_flight = q.usage.tx_in_flight;
            if (q.has_kernel_statistics) {
                queue.kernel_rx_dropped = q.kernel.rx_dropped;
                queue.kernel_rx_invalid = q.kernel.rx_invalid_descs;
                queue.kernel_tx_invalid = q.kernel.tx_invalid_descs;
                queue.kernel_rx_ring_full = q.kernel.rx_ring_full;
                queue.kernel_fill_ring_empty = q.kernel.rx_fill_ring_empty_descs;
                queue.kernel_tx_ring_empty = q.kernel.tx_ring_empty_descs;
            }
        }
    }
    stats::process_publisher().set_ports(ports, port_count, queues, queue_count);
}

}  // namespace

const config::Settings& settings() {
    ensure_config();
    return g_settings.get();
}

bool settings_loaded() {
    return g_config_ready.load(std::memory_order_acquire);
}

const config::RuleSet& rules() {
    ensure_config();
    return g_rules.get();
}

void flush_before_image_ends() {
    if (g_engine.load(std::memory_order_acquire) == nullptr) return;
    if (g_engine_pid.load(std::memory_order_relaxed) != static_cast<pid_t>(::syscall(SYS_getpid)))
        return;
    fast_path_poll_once();  // skips itself when this thread is inside the engine
}

engine::UdpEngine* current_engine() {
    return g_engine.load(std::memory_order_acquire);
}

EngineOrReason engine_for_new_socket() {
    if (auto* engine = g_engine.load(std::memory_order_acquire)) return {engine, {}, {}};
    ensure_config();
    std::lock_guard lock(g_engine_mutex);
    if (auto* engine = g_engine.load(std::memory_order_acquire)) return {engine, {}, {}};
    const uint64_t now = monotonic_ns();
    if (now < g_retry_after_ns) return {nullptr, g_failure_reason, g_failure_detail.get()};
    register_fork_handler_once();

    engine::UdpEngineConfig config;
    config.on_progress_thread_start = progress_thread_start;
    config.on_usage = publish_usage;
    config.usage_interval = std::chrono::milliseconds(stats::kUsageIntervalMs);
    config.tcp_faults = engine::TcpFaultConfig::from(settings().tcp_faults);
    // The progress thread is born with every signal blocked (no window in
    // which an application signal could land on it).
    sigset_t all;
    sigset_t old;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, &old);
    auto made = [&] {
        InsideEngine mark;
        return engine::UdpEngine::create(config);
    }();
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);

    if (!made) {
        g_failure_reason = reason_for(made.error());
        if (!g_failure_detail_built) {
            new (g_failure_detail.bytes) std::string;
            g_failure_detail_built = true;
        }
        g_failure_detail.get() = reason_text(g_failure_reason, made.error());
        g_retry_after_ns = now + kRetryIntervalNs;
        return {nullptr, g_failure_reason, g_failure_detail.get()};
    }
    engine::UdpEngine* engine = made.value().release();
    const auto fds = engine->process_descriptors();
    size_t count = 0;
    for (int fd : fds)
        if (count < kMaxEngineFds) g_engine_fds[count++] = fd;
    g_engine_fd_count.store(count, std::memory_order_relaxed);
    size_t rx_count = 0;
    for (int fd : engine->rx_descriptors())
        if (rx_count < kMaxRxFds) g_rx_fds[rx_count++] = fd;
    g_rx_fd_count.store(rx_count, std::memory_order_relaxed);
    g_engine_pid.store(static_cast<pid_t>(::syscall(SYS_getpid)), std::memory_order_relaxed);
    g_engine.store(engine, std::memory_order_release);

    std::string names;
    for (const auto& name : engine->interfaces()) names += (names.empty() ? "" : ", ") + name;
    const auto stale = engine->stale_removed();
    log_line(LogLevel::info,
             "UDP fast path engine started on " + names +
                 " (stale steering entries removed: " + std::to_string(stale.binds) + " binds, " +
                 std::to_string(stale.flows) + " flows)");
    return {engine, {}, {}};
}

RxFds engine_rx_fds() {
    if (g_engine.load(std::memory_order_acquire) == nullptr) return {};
    return {g_rx_fds, g_rx_fd_count.load(std::memory_order_relaxed)};
}

void note_fast_socket() {
    if (!g_exit_handler_registered.exchange(true)) std::atexit(exit_handler);
}

void log_decision(int fd, const char* what, const std::string& text) {
    if (!log_enabled(LogLevel::info)) return;
    log_line(LogLevel::info, "fd " + std::to_string(fd) + " (" + what + "): " + text);
}

void log_fallback(int fd, const std::string& text) {
    log_line(LogLevel::warn, "fd " + std::to_string(fd) + ": kernel path: " + text);
}

}  // namespace xlane::preload
