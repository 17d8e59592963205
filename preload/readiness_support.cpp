// Futex lock, mapped memory, block pool and deadlines for the readiness
// multiplexers; everything reaches the kernel through syscall() only.
#include "readiness_support.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <new>

#include "fast_path.h"
#include "libc_table.h"

namespace xlane::preload {
namespace {

constexpr long kNanosPerSecond = 1000000000L;

void futex_wait(std::atomic<int>& word, int expected) {
    // Spurious returns (EINTR, EAGAIN) are fine: the caller re-checks the word.
    const int saved = errno;
    ::syscall(SYS_futex, reinterpret_cast<int*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr,
              nullptr, 0);
    errno = saved;
}

void futex_wake_one(std::atomic<int>& word) {
    const int saved = errno;
    ::syscall(SYS_futex, reinterpret_cast<int*>(&word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
    errno = saved;
}

timespec add(const timespec& a, const timespec& b) {
    timespec sum{a.tv_sec + b.tv_sec, a.tv_nsec + b.tv_nsec};
    if (sum.tv_nsec >= kNanosPerSecond) {
        ++sum.tv_sec;
        sum.tv_nsec -= kNanosPerSecond;
    }
    return sum;
}

bool before(const timespec& a, const timespec& b) {
    return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

}  // namespace

static_assert(sizeof(std::atomic<int>) == sizeof(int), "the futex word is the atomic itself");

void FutexLock::lock() {
    int c = 0;
    if (state_.compare_exchange_strong(c, 1, std::memory_order_acquire)) return;
    if (c != 2) c = state_.exchange(2, std::memory_order_acquire);
    while (c != 0) {
        futex_wait(state_, 2);
        c = state_.exchange(2, std::memory_order_acquire);
    }
}

void FutexLock::unlock() {
    if (state_.exchange(0, std::memory_order_release) == 2) futex_wake_one(state_);
}

void* map_memory(size_t bytes) {
    const long ret = ::syscall(SYS_mmap, nullptr, bytes, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    // The raw system call returns -errno in the last page of the address space.
    if (ret < 0 && ret > -4096) {
        errno = static_cast<int>(-ret);
        return nullptr;
    }
    return reinterpret_cast<void*>(ret);
}

void unmap_memory(void* memory, size_t bytes) {
    if (memory == nullptr) return;
    const int saved = errno;
    ::syscall(SYS_munmap, memory, bytes);
    errno = saved;
}

void* BlockPool::allocate() {
    constexpr size_t kChunkBytes = 64 * 1024;
    LockGuard guard(lock_);
    char* block = nullptr;
    if (free_ != nullptr) {
        block = reinterpret_cast<char*>(free_);
        free_ = free_->next;
        // Recycled blocks are zeroed by hand; fresh mappings already are.
        for (size_t i = 0; i < block_size_; ++i) static_cast<volatile char*>(block)[i] = 0;
        return block;
    }
    if (chunk_left_ < block_size_) {
        chunk_ = static_cast<char*>(map_memory(kChunkBytes));
        if (chunk_ == nullptr) {
            chunk_left_ = 0;
            return nullptr;
        }
        chunk_left_ = kChunkBytes;
    }
    block = chunk_;
    chunk_ += block_size_;
    chunk_left_ -= block_size_;
    return block;
}

void BlockPool::release(void* block) {
    if (block == nullptr) return;
    LockGuard guard(lock_);
    auto* node = static_cast<FreeBlock*>(block);
    node->next = free_;
    free_ = node;
}

namespace {

constexpr size_t kKernelSigsetSize = _NSIG / 8;

int sys_sigprocmask(int how, const sigset_t* set, sigset_t* old) {
    return static_cast<int>(::syscall(SYS_rt_sigprocmask, how, set, old, kKernelSigsetSize));
}

}  // namespace

// Kernel signal sets are one 64-bit word here (x86-64, arm64: _NSIG == 65),
// the first word of glibc's sigset_t; handled as such, so the library imports
// no sigset functions.
static_assert(kKernelSigsetSize == sizeof(uint64_t));

namespace {

uint64_t signal_bit(int signal) {
    return uint64_t{1} << (signal - 1);
}

uint64_t word_of(const sigset_t& set) {
    return set.__val[0];
}

}  // namespace

SpinSignals::SpinSignals(const sigset_t* call_mask) {
    // glibc's internal signals (SIGCANCEL, SIGSETXID): never ours to hold.
    const uint64_t all = ~(signal_bit(__SIGRTMIN) | signal_bit(__SIGRTMIN + 1));
    uint64_t old = 0;
    const int saved = errno;
    blocked_ = sys_sigprocmask(SIG_BLOCK, reinterpret_cast<const sigset_t*>(&all),
                               reinterpret_cast<sigset_t*>(&old)) == 0;
    errno = saved;
    thread_mask_.__val[0] = old;
    call_mask_.__val[0] = call_mask != nullptr ? word_of(*call_mask) : old;
}

SpinSignals::~SpinSignals() {
    if (!blocked_) return;
    const int saved = errno;
    const uint64_t old = word_of(thread_mask_);
    sys_sigprocmask(SIG_SETMASK, reinterpret_cast<const sigset_t*>(&old), nullptr);
    errno = saved;
}

bool SpinSignals::pending() const {
    if (!blocked_) return false;
    uint64_t pending_set = 0;
    const int saved = errno;
    const long ret = ::syscall(SYS_rt_sigpending, &pending_set, kKernelSigsetSize);
    errno = saved;
    return ret == 0 && (pending_set & ~word_of(call_mask_)) != 0;
}

DeferredSpinSignals::DeferredSpinSignals(const sigset_t* call_mask)
    : call_mask_(call_mask), hold_at_(add(monotonic_now(), timespec{0, kUnheldSpinUs * 1000L})) {}

DeferredSpinSignals::~DeferredSpinSignals() {
    if (holding_ != nullptr) holding_->~SpinSignals();
}

bool DeferredSpinSignals::pending() {
    if (++rounds_ % 8 != 0) return false;
    if (holding_ == nullptr) {
        if (before(monotonic_now(), hold_at_)) return false;
        holding_ = new (held_) SpinSignals(call_mask_);
    }
    return holding_->pending();
}

const sigset_t* DeferredSpinSignals::sleep_mask() const {
    return holding_ != nullptr ? holding_->sleep_mask() : call_mask_;
}

SpinYield::SpinYield() : next_ns_(monotonic_ns() + kFirstLookNs) {}

namespace {
// Context switches this thread took without going to sleep: a sched_yield
// that let another thread run counts one (a hypervisor's preemption of the
// whole virtual CPU does not, where a clock around the yield would).
long involuntary_switches() {
    rusage usage{};
    if (::syscall(SYS_getrusage, RUSAGE_THREAD, &usage) != 0) return 0;
    return usage.ru_nivcsw;
}

// Looks of this thread's spins that found the CPU wanted, each within
// kWantedGapNs of the one before, and when the last of them ended. Looks that
// found it free in between do not break the run: against a thread that
// keeps the CPU busy, a yield hands it a whole time slice (about 4 ms here),
// after which that thread must wait its turn and the next two yields return
// at once (EEVDF; measured: 71 of 200 looks wanted, never two in a row). The
// gap is far above a slice and a scheduler tick (4 ms at HZ=250); a few
// wanted looks long ago and one now are no sustained need.
constinit thread_local unsigned t_wanted_looks __attribute__((tls_model("initial-exec"))) = 0;
constinit thread_local uint64_t t_last_wanted_ns __attribute__((tls_model("initial-exec"))) = 0;
constexpr uint64_t kWantedGapNs = 20'000'000;
}  // namespace

bool SpinYield::cpu_wanted() {
    if (++rounds_ % 8 != 0) return false;
    const uint64_t now = monotonic_ns();
    if (now < next_ns_) return false;
    next_ns_ = now + kLookEveryNs;
    const long before = involuntary_switches();
    ::sched_yield();
    if (involuntary_switches() == before) return false;
    // The gap counts from the end of the last wanted look: a yield to a busy
    // thread lasts a time slice, and must not break the run it belongs to.
    if (now - t_last_wanted_ns > kWantedGapNs) t_wanted_looks = 0;
    t_last_wanted_ns = monotonic_ns();
    if (++t_wanted_looks < kWantedLooks) return false;
    t_wanted_looks = 0;
    return true;
}

bool signal_handlers_restart() {
    for (int sig = 1; sig < _NSIG; ++sig) {
        struct sigaction action {};
        if (libc::sigaction(sig, nullptr, &action) != 0) continue;
        if (action.sa_handler == SIG_DFL || action.sa_handler == SIG_IGN) continue;
        if ((action.sa_flags & SA_RESTART) == 0) return false;
    }
    return true;
}

namespace {
constinit std::atomic<bool> g_accelerated_socket_seen{false};
}  // namespace

void note_accelerated_socket() {
    if (!g_accelerated_socket_seen.load(std::memory_order_relaxed))
        g_accelerated_socket_seen.store(true, std::memory_order_release);
}

bool accelerated_socket_seen() {
    return g_accelerated_socket_seen.load(std::memory_order_acquire);
}

timespec monotonic_now() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return now;
}

uint64_t monotonic_ns() {
    const timespec now = monotonic_now();
    return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000U + static_cast<uint64_t>(now.tv_nsec);
}

Deadline Deadline::after(const timespec& timeout) {
    Deadline d;
    d.infinite_ = false;
    d.immediate_ = timeout.tv_sec == 0 && timeout.tv_nsec == 0;
    d.at_ = add(monotonic_now(), timeout);
    return d;
}

Deadline Deadline::after_ms(int timeout_ms) {
    if (timeout_ms < 0) return never();
    return after(timespec{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L});
}

timespec Deadline::remaining() const {
    if (immediate_) return timespec{0, 0};
    const timespec now = monotonic_now();
    if (!before(now, at_)) return timespec{0, 0};
    timespec left{at_.tv_sec - now.tv_sec, at_.tv_nsec - now.tv_nsec};
    if (left.tv_nsec < 0) {
        --left.tv_sec;
        left.tv_nsec += kNanosPerSecond;
    }
    return left;
}

bool Deadline::passed() const {
    if (immediate_) return true;
    if (infinite_) return false;
    return !before(monotonic_now(), at_);
}

Deadline Deadline::capped_us(unsigned us) const {
    const timespec spin{static_cast<time_t>(us / 1000000U),
                        static_cast<long>(us % 1000000U) * 1000L};
    Deadline capped = after(spin);
    capped.immediate_ = immediate_ || us == 0;
    if (!infinite_ && before(at_, capped.at_)) capped.at_ = at_;
    return capped;
}

namespace {
constinit thread_local unsigned t_empty_immediate_polls
    __attribute__((tls_model("initial-exec"))) = 0;
}  // namespace

void note_immediate_poll(bool empty) {
    if (!empty) {
        t_empty_immediate_polls = 0;
    } else if (t_empty_immediate_polls < kPollingAgain) {
        ++t_empty_immediate_polls;
    } else {
        fast_path_rx_polled_empty();
    }
}

}  // namespace xlane::preload
