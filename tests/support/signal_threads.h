// Threads that act on a test's thread later: SIGUSR1 sent again and again
// until the test is past its blocking call, and an action run once after a
// delay. Shared by the unit tests and the probes run under LD_PRELOAD.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace xlane::test {

// Sends SIGUSR1 to `target` after `delay`, and again every `delay` until
// destroyed: a signal that comes before the target entered its call only
// runs the handler, and the next one interrupts the call (load-proof).
class DelayedSignal {
  public:
    DelayedSignal(pthread_t target, std::chrono::milliseconds delay)
        : thread_([this, target, delay] {
              while (!stop_.load()) {
                  std::this_thread::sleep_for(delay);
                  if (!stop_.load()) ::pthread_kill(target, SIGUSR1);
              }
          }) {}
    ~DelayedSignal() {
        stop_.store(true);
        thread_.join();
    }

  private:
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// Runs `action` on another thread after `delay`; joined on destruction.
class Later {
  public:
    template <typename Action>
    Later(std::chrono::milliseconds delay, Action action)
        : thread_([delay, action] {
              std::this_thread::sleep_for(delay);
              action();
          }) {}
    ~Later() { thread_.join(); }

  private:
    std::thread thread_;
};

}  // namespace xlane::test
