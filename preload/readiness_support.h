// Building blocks of the readiness multiplexers (poll/select, epoll) that keep
// libxlane.so free of malloc, pthread and libstdc++: a futex lock, an
// mmap-backed object pool, scratch arrays and a monotonic deadline.
#pragma once

#include <poll.h>
#include <signal.h>
#include <time.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace xlane::preload {

// A three-state futex mutex (Drepper, "Futexes are tricky"). Used instead of
// pthread_mutex_t so the library imports nothing but syscall(): constant-
// initialised, no destructor, safe to use before libc finished starting.
// Not async-signal-safe (no mutex is): callers never take it on a path that
// POSIX requires to be async-signal-safe.
class FutexLock {
  public:
    constexpr FutexLock() = default;
    FutexLock(const FutexLock&) = delete;
    FutexLock& operator=(const FutexLock&) = delete;

    void lock();
    void unlock();
    // In a fork child only: a thread of the parent may have held it at the
    // fork, and that thread does not exist in the child.
    void reset_after_fork() { state_.store(0, std::memory_order_relaxed); }

  private:
    std::atomic<int> state_{0};  // 0 free, 1 held, 2 held with waiters
};

class LockGuard {
  public:
    explicit LockGuard(FutexLock& lock) : lock_(lock) { lock_.lock(); }
    ~LockGuard() { lock_.unlock(); }
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;

  private:
    FutexLock& lock_;
};

// Anonymous memory straight from the kernel (mmap/munmap through syscall()):
// async-signal-safe, unlike malloc. nullptr on failure.
void* map_memory(size_t bytes);
void unmap_memory(void* memory, size_t bytes);

// Fixed-size blocks carved from 64 KiB mappings and recycled through a free
// list; mappings are never returned, so a pointer to a freed block stays
// dereferenceable (a racing reader sees a recycled object, never a fault).
class BlockPool {
  public:
    constexpr explicit BlockPool(size_t block_size)
        : block_size_((block_size + 15) & ~size_t{15}) {}
    BlockPool(const BlockPool&) = delete;
    BlockPool& operator=(const BlockPool&) = delete;

    [[nodiscard]] void* allocate();  // zero-filled; nullptr when out of memory
    void release(void* block);
    void reset_after_fork() { lock_.reset_after_fork(); }

  private:
    struct FreeBlock {
        FreeBlock* next;
    };
    FutexLock lock_;
    size_t block_size_;
    FreeBlock* free_ = nullptr;
    char* chunk_ = nullptr;  // unused tail of the newest mapping
    size_t chunk_left_ = 0;
};

// An array of `count` T: on the stack below kInline elements, else mapped for
// the duration of the call. Not a thread-local cache on purpose: poll and
// select are async-signal-safe, so a handler may poll while the interrupted
// code is inside poll on the same thread; a per-call mapping has no owner to
// collide with and nothing to free at thread exit. Its cost (two system calls,
// ~2 us) only arises above kInline fds, where the poll itself costs more.
template <typename T, size_t kInline>
class ScratchArray {
  public:
    explicit ScratchArray(size_t count) {
        if (count > kInline) {
            bytes_ = count * sizeof(T);
            data_ = static_cast<T*>(map_memory(bytes_));
        }
    }
    ~ScratchArray() {
        if (data_ != inline_) unmap_memory(data_, bytes_);
    }
    ScratchArray(const ScratchArray&) = delete;
    ScratchArray& operator=(const ScratchArray&) = delete;

    [[nodiscard]] T* data() const { return data_; }  // nullptr: out of memory (ENOMEM)

  private:
    T inline_[kInline];
    T* data_ = inline_;
    size_t bytes_ = 0;
};

// The point in CLOCK_MONOTONIC at which a blocking call gives up, fixed at
// entry so that spinning before sleeping does not lengthen the wait.
class Deadline {
  public:
    static Deadline never() { return Deadline{}; }
    static Deadline after(const timespec& timeout);
    static Deadline after_ms(int timeout_ms);  // negative: never

    [[nodiscard]] bool infinite() const { return infinite_; }
    [[nodiscard]] bool immediate() const { return immediate_; }
    // Time left, zero once passed; only for finite deadlines.
    [[nodiscard]] timespec remaining() const;
    [[nodiscard]] bool passed() const;
    // The earlier of this deadline and `us` microseconds from now.
    [[nodiscard]] Deadline capped_us(unsigned us) const;

  private:
    bool infinite_ = true;
    bool immediate_ = false;  // a zero timeout: never sleeps, never spins
    timespec at_{};
};

[[nodiscard]] timespec monotonic_now();
// The same clock in nanoseconds.
[[nodiscard]] uint64_t monotonic_ns();

// Signals while a blocking call spins in user space before it sleeps. The
// kernel applies a ppoll/pselect/epoll_pwait mask for the whole call and
// returns EINTR for a signal that arrives at any point of it; a signal
// handled in the middle of our spin would do neither (the handler would run
// under the wrong mask, and the call would not return EINTR). So the spin
// runs with every signal blocked, watching for pending ones, and the sleep
// that follows applies the call's mask atomically (the kernel then delivers a
// pending signal and returns EINTR, exactly as for a signal during its wait).
// glibc's own SIGCANCEL/SIGSETXID stay unblocked. Async-signal-safe.
class SpinSignals {
  public:
    // `call_mask`: the mask the call waits under (ppoll's), or nullptr for
    // the thread's own (poll's).
    explicit SpinSignals(const sigset_t* call_mask);
    ~SpinSignals();  // the thread's mask as it was
    SpinSignals(const SpinSignals&) = delete;
    SpinSignals& operator=(const SpinSignals&) = delete;

    // A signal is pending that the call's mask lets through: stop spinning.
    [[nodiscard]] bool pending() const;
    // The mask to sleep under (never nullptr: the thread's own is blocked now).
    [[nodiscard]] const sigset_t* sleep_mask() const { return &call_mask_; }

  private:
    sigset_t thread_mask_{};
    sigset_t call_mask_{};
    bool blocked_ = false;
};

// The set of handlers that would make a blocking socket call restart after
// a signal (signal(7)): true when every installed handler has SA_RESTART.
// Which signal interrupted a call is not known where this is asked, so one
// handler without SA_RESTART makes every interrupted call fail with EINTR.
[[nodiscard]] bool signal_handlers_restart();

// SpinSignals for a spin that usually ends within microseconds (a reply on
// its way): signals are held only once the spin has lasted kUnheldSpinUs.
// A signal handled before that cannot interrupt the call, exactly like one
// that lands just before the call starts (the race every program already
// lives with, and the reason ppoll/pselect exist); in exchange the common
// short spin makes no system call for signals (two sigprocmask calls on every
// spin cost about 1 us per round trip here). Async-signal-safe.
class DeferredSpinSignals {
  public:
    static constexpr long kUnheldSpinUs = 20;

    // `call_mask`: as for SpinSignals.
    explicit DeferredSpinSignals(const sigset_t* call_mask);
    DeferredSpinSignals(const DeferredSpinSignals&) = delete;
    DeferredSpinSignals& operator=(const DeferredSpinSignals&) = delete;
    ~DeferredSpinSignals();

    // Once per spin round: true when a held signal is pending that the
    // call's mask lets through (stop spinning; the sleep delivers it). Looks
    // every 8 rounds (the clock, then rt_sigpending, once holding).
    [[nodiscard]] bool pending();
    // The mask to sleep (or make a zero-timeout round) under; nullptr: the thread's own.
    [[nodiscard]] const sigset_t* sleep_mask() const;

  private:
    const sigset_t* call_mask_;
    timespec hold_at_{};
    unsigned rounds_ = 0;
    alignas(SpinSignals) unsigned char held_[sizeof(SpinSignals)];
    SpinSignals* holding_ = nullptr;  // in held_, once signals are held
};

// Looks, now and then during a busy-poll, whether another thread waits for
// this CPU, and ends the spin when one keeps waiting. The thread a spinner
// waits for may be queued on the spinner's own CPU (the scheduler puts a
// woken thread next to its waker): a spin that kept the CPU would hold it
// off for the whole spin (XLANE_SPIN_US), and a ping-pong whose two ends
// share a CPU took two spins per round trip (p50 123 us against 11 us on two
// CPUs, both ends pinned with taskset).
//
// A look is a sched_yield between two counts of the thread's involuntary
// context switches (about 1.5 us here; the yield returns at once when
// nothing else is runnable). When another thread ran at kWantedLooks looks,
// each within 20 ms of the one before, counted across spins (in a ping-pong
// on one CPU each spin ends with the reply right after its first look; a
// kernel thread's passing need is no reason to stop), the spin ends in a
// sleep, as Linux's own busy polling ends on need_resched(). Yielding alone is not enough: it keeps
// both threads runnable on one CPU for good (the load balancer does not move
// a thread that just ran; p50 14 us where two CPUs gave 6.5), where a
// sleeper is woken onto an idle CPU if there is one. The first look comes
// kFirstLookNs into the spin, after the usual reply time on an idle pair of
// CPUs, so such a spin makes no system call. Async-signal-safe.
class SpinYield {
  public:
    static constexpr uint64_t kFirstLookNs = 10'000;
    static constexpr uint64_t kLookEveryNs = 10'000;
    static constexpr unsigned kWantedLooks = 3;

    SpinYield();
    // Once per spin round (looks at the clock every 8 rounds): true when
    // another thread wanted this CPU, and the spin should end in a sleep.
    [[nodiscard]] bool cpu_wanted();

  private:
    uint64_t next_ns_;
    unsigned rounds_ = 0;
};

// Set (for good) when the first socket of this process is accelerated. Until
// then every readiness call is libc's own, without even reading its
// arguments: a program that never has an accelerated socket sees the kernel's
// answers to everything, EFAULT for a bad pointer included.
void note_accelerated_socket();
[[nodiscard]] bool accelerated_socket_seen();

// Readiness bits of a socket's receive side, which an accelerated fd takes
// from its eventfd instead of from the kernel socket.
inline constexpr short kPollReadBits = POLLIN | POLLRDNORM;

// After a zero-timeout poll/select/epoll_wait over accelerated fds: `empty`
// when it found nothing. A thread whose such calls keep finding nothing
// (kPollingAgain in a row) polls the rings, as a non-blocking receive does,
// and renews the progress thread's lease (fast_path_rx_polled_empty).
void note_immediate_poll(bool empty);

}  // namespace xlane::preload
