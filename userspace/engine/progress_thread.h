// ProgressThread: the engine's small internal thread. It sleeps in poll() on
// a fixed set of fds (AF_XDP sockets, kernel sockets, netlink) and runs one
// callback whenever any is readable or a tick passes; it stops promptly.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace xlane::engine {

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
        Callback on_start = {});
    // Stops and joins.
    ~ProgressThread();
    ProgressThread(const ProgressThread&) = delete;
    ProgressThread& operator=(const ProgressThread&) = delete;

    // Times the callback ran (for tests and stats).
    [[nodiscard]] uint64_t wakeups() const { return wakeups_.load(std::memory_order_relaxed); }

  private:
    ProgressThread(std::vector<int> fds, std::chrono::milliseconds tick, Callback on_wake,
                   Callback on_start, UniqueFd stop)
        : fds_(std::move(fds)),
          tick_(tick),
          on_wake_(std::move(on_wake)),
          on_start_(std::move(on_start)),
          stop_(std::move(stop)) {}
    void run();

    std::vector<int> fds_;
    std::chrono::milliseconds tick_;
    Callback on_wake_;
    Callback on_start_;
    UniqueFd stop_;  // eventfd: written once by the destructor
    std::atomic<uint64_t> wakeups_{0};
    std::thread thread_;
};

}  // namespace xlane::engine
