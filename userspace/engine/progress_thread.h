// ProgressThread: the engine's small internal thread. It sleeps in poll() on
// a fixed set of fds (AF_XDP sockets, kernel sockets, netlink) and runs one
// callback whenever any is readable or a tick passes; it stops promptly.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace xlane::engine {

// Application threads that take the AF_XDP sockets' frames in themselves, so
// that the progress thread need not watch those sockets meanwhile.
struct RxTakers {
    // Threads inside a spin (UdpEngine::rx_spin_begin() to rx_spin_end()).
    std::atomic<int> spinners{0};
    // CLOCK_MONOTONIC ns until which a thread whose non-blocking receives keep
    // coming back empty counts as a spinner (UdpEngine::receive): it polls the
    // rings between its calls, so it cannot hold `spinners` up, and each empty
    // receive renews this instead.
    std::atomic<uint64_t> poller_until_ns{0};
    // Rounds in which somebody polled the rings (UdpEngine::poll_rx_locked:
    // written under the engine mutex, read here without it). A recheck that
    // finds it unchanged runs a round itself: the spinner it counts may be
    // off its CPU (preempted, or yielding to another thread for a time
    // slice), or a lease holder may never have come back, and frames for
    // threads that sleep in poll, select or epoll_wait wait for a round.
    std::atomic<uint64_t> polls{0};

    [[nodiscard]] bool any() const {
        return spinners.load() > 0 || poller_until_ns.load(std::memory_order_relaxed) > now_ns();
    }
    // CLOCK_MONOTONIC, the clock of `poller_until_ns`.
    [[nodiscard]] static uint64_t now_ns();
};

// The callback runs on this thread only, never concurrently with itself; it
// takes whatever lock its data needs (the thread itself holds none while it
// sleeps, so application threads are never blocked by it sleeping).
class ProgressThread {
  public:
    using Callback = std::function<void()>;

    // `on_start`, when set, runs first on the new thread (the preload library
    // marks the thread as its own there, so its calls bypass the interposition).
    [[nodiscard]] static Result<std::unique_ptr<ProgressThread>> start(
        std::vector<int> fds, std::chrono::milliseconds tick, Callback on_wake,
        Callback on_start = {}, std::chrono::microseconds soon = std::chrono::microseconds(200));
    // Also watches `rx_fds` (the AF_XDP sockets), but only while nobody else
    // takes their frames in: while `rx_takers` has any (application threads
    // busy-polling the rings) it sleeps without them, for at most
    // kSpunRxRecheck, so that a frame does not wake it only to take the
    // spinner's CPU and the engine mutex.
    [[nodiscard]] static Result<std::unique_ptr<ProgressThread>> start(
        std::vector<int> fds, std::vector<int> rx_fds, const RxTakers* rx_takers,
        std::chrono::milliseconds tick, Callback on_wake, Callback on_start = {},
        std::chrono::microseconds soon = std::chrono::microseconds(200));
    static constexpr std::chrono::milliseconds kSpunRxRecheck{1};

    // The last RX spinner went to sleep: if the thread sleeps without the RX
    // fds, it wakes to watch them again (an eventfd write, only then).
    void rx_spinners_gone();
    // Stops and joins (once; the destructor does it too). The counters below
    // are final after it.
    void stop();
    ~ProgressThread();
    ProgressThread(const ProgressThread&) = delete;
    ProgressThread& operator=(const ProgressThread&) = delete;

    // Asks for a round within `soon` (start()): work is waiting that only a
    // round finishes (deferred TX wake-ups). Rounds then come every `soon`
    // until one passes with no new request. Costs an eventfd write only
    // when the thread sleeps for its long tick; any thread may call it.
    void request_round_soon();

    // Times the callback ran (for tests and stats).
    [[nodiscard]] uint64_t wakeups() const { return wakeups_.load(std::memory_order_relaxed); }
    // Of those, the rounds an RX recheck ran because nobody had polled the
    // rings since the last look (a spinner off its CPU, a lease holder gone).
    [[nodiscard]] uint64_t unpolled_recheck_rounds() const {
        return unpolled_recheck_rounds_.load(std::memory_order_relaxed);
    }
    // RX rechecks: sleeps without the RX fds that ended by their timeout.
    [[nodiscard]] uint64_t rx_rechecks() const {
        return rx_rechecks_.load(std::memory_order_relaxed);
    }

  private:
    ProgressThread(std::vector<int> fds, std::chrono::milliseconds tick, Callback on_wake,
                   Callback on_start, UniqueFd stop, UniqueFd nudge, std::chrono::microseconds soon)
        : fds_(std::move(fds)),
          tick_(tick),
          soon_(soon),
          nudge_(std::move(nudge)),
          on_wake_(std::move(on_wake)),
          on_start_(std::move(on_start)),
          stop_(std::move(stop)) {}
    void run();

    std::vector<int> fds_;
    std::vector<int> rx_fds_;
    const RxTakers* rx_takers_ = nullptr;
    std::atomic<bool> rx_unwatched_{false};  // sleeping without rx_fds_
    std::chrono::milliseconds tick_;
    std::chrono::microseconds soon_;
    UniqueFd nudge_;  // eventfd: wakes the thread out of its long tick
    // A round was requested since the last one began; the thread sleeps
    // for its long tick (the requester must then write nudge_).
    std::atomic<bool> round_requested_{false};
    std::atomic<bool> sleeping_long_{false};
    Callback on_wake_;
    Callback on_start_;
    UniqueFd stop_;  // eventfd: written once, by stop()
    std::atomic<uint64_t> wakeups_{0};
    std::atomic<uint64_t> unpolled_recheck_rounds_{0};
    std::atomic<uint64_t> rx_rechecks_{0};
    std::thread thread_;
};

}  // namespace xlane::engine
