// ProgressThread and RX takers: while an application thread busy-polls the
// rings (a spinner, or a poller whose lease runs), a readable AF_XDP socket
// must not wake the progress thread per frame (it rechecks every
// kSpunRxRecheck); the last spinner going to sleep hands the rings back at
// once, an expired lease within a recheck. An eventfd stands in for the socket.
#include "engine/progress_thread.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

using namespace std::chrono_literals;
using xlane::engine::ProgressThread;
using xlane::engine::RxTakers;

namespace {

struct Rx {
    int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    ~Rx() { ::close(fd); }
    void make_readable() const {
        const uint64_t one = 1;
        REQUIRE(::write(fd, &one, sizeof(one)) == sizeof(one));
    }
    bool drain() const {
        uint64_t value = 0;
        return ::read(fd, &value, sizeof(value)) == sizeof(value);
    }
};

// Wake-ups of a thread whose callback leaves the RX fd readable, over `span`.
uint64_t wakeups_over(std::chrono::milliseconds span, const Rx& rx, const RxTakers& takers) {
    auto thread = ProgressThread::start(
        {}, {rx.fd}, &takers, 1000ms, [] {}, {}, 200us);
    REQUIRE(thread);
    std::this_thread::sleep_for(span);
    return thread.value()->wakeups();
}

}  // namespace

TEST_CASE("progress thread: a readable RX fd wakes it while nobody spins") {
    Rx rx;
    rx.make_readable();
    RxTakers takers;
    // Level-triggered and never drained: it runs round after round.
    CHECK(wakeups_over(100ms, rx, takers) > 500);
}

// An application thread busy-polling the rings, as far as the progress thread
// can tell: RxTakers::polls moves (UdpEngine::poll_rx_locked bumps it).
class PollingSpinner {
  public:
    explicit PollingSpinner(RxTakers& takers) : takers_(takers) {
        takers_.spinners.fetch_add(1);
        thread_ = std::thread([this] {
            while (!stop_.load()) {
                takers_.polls.fetch_add(1, std::memory_order_relaxed);
                std::this_thread::yield();
            }
        });
    }
    ~PollingSpinner() {
        stop_.store(true);
        thread_.join();
        takers_.spinners.fetch_sub(1);
    }
    PollingSpinner(const PollingSpinner&) = delete;
    PollingSpinner& operator=(const PollingSpinner&) = delete;

  private:
    RxTakers& takers_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

TEST_CASE("progress thread: while an RX spinner polls, its rechecks run no round") {
    // A round takes the engine mutex and a CPU the spinners use; a recheck
    // only looks whether the RX fds are still theirs and still polled.
    Rx rx;
    rx.make_readable();
    RxTakers takers;
    PollingSpinner spinner(takers);
    // About 100 rechecks; a round only where the spinner did not run for a
    // whole recheck (a loaded host, a sanitizer build), never at each one.
    CHECK(wakeups_over(100ms, rx, takers) <= 10);
}

TEST_CASE("progress thread: a spinner that stops polling gets a round at each recheck") {
    // Counted but off its CPU (preempted, or yielding a time slice to
    // another thread): the frames of threads sleeping in poll/epoll_wait
    // must not wait for it, only for the next recheck.
    Rx rx;
    rx.make_readable();
    RxTakers takers;
    takers.spinners.store(1);
    const auto start = std::chrono::steady_clock::now();
    const uint64_t rounds = wakeups_over(100ms, rx, takers);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    // A round per recheck (1 ms), never a round per readiness of the fd.
    CHECK(rounds >= 20);
    CHECK(rounds <= uint64_t(elapsed / ProgressThread::kSpunRxRecheck) + 20);
}

TEST_CASE("progress thread: the long tick still comes while spinners keep the RX fds") {
    Rx rx;
    rx.make_readable();
    RxTakers takers;
    PollingSpinner spinner(takers);
    // 20 ms ticks: a round each, though the thread wakes every 1 ms to
    // recheck (the tick counts from the last round, not the last sleep).
    const auto start = std::chrono::steady_clock::now();
    auto thread = ProgressThread::start({}, {rx.fd}, &takers, 20ms, [] {}, {}, 200us);
    REQUIRE(thread);
    std::this_thread::sleep_for(110ms);
    const uint64_t rounds = thread.value()->wakeups();
    const auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(rounds >= 1);
    CHECK(rounds <= uint64_t(elapsed / 20ms) + 2);
}

TEST_CASE("progress thread: once the spinners are gone it takes frames in again") {
    Rx rx;
    RxTakers takers;
    takers.spinners.store(1);
    std::atomic<bool> drained{false};
    auto thread = ProgressThread::start(
        {}, {rx.fd}, &takers, 1000ms,
        [&] {
            if (rx.drain()) drained.store(true);
        },
        {}, 200us);
    REQUIRE(thread);
    std::this_thread::sleep_for(20ms);  // it sleeps without the RX fd now
    takers.spinners.store(0);
    thread.value()->rx_spinners_gone();
    rx.make_readable();
    const auto start = std::chrono::steady_clock::now();
    while (!drained.load() && std::chrono::steady_clock::now() - start < 5s)
        std::this_thread::sleep_for(100us);
    CHECK(drained.load());
}

namespace {

uint64_t monotonic_ns_after(std::chrono::nanoseconds span) {
    return RxTakers::now_ns() + static_cast<uint64_t>(span.count());
}

}  // namespace

TEST_CASE("progress thread: while a poller's lease runs, it only rechecks every kSpunRxRecheck") {
    Rx rx;
    rx.make_readable();
    RxTakers takers;
    takers.poller_until_ns.store(monotonic_ns_after(10s));
    const auto rounds = wakeups_over(100ms, rx, takers);
    CHECK(rounds <= 100ms / ProgressThread::kSpunRxRecheck + 20);
}

TEST_CASE("progress thread: once a poller's lease ends it watches the RX fds again") {
    Rx rx;
    rx.make_readable();
    RxTakers takers;
    takers.poller_until_ns.store(monotonic_ns_after(30ms));
    // 30 ms of rechecks (about 30 rounds), then a round per wake-up of the
    // readable fd (hundreds in the 70 ms left); no nudge needed.
    CHECK(wakeups_over(100ms, rx, takers) > 300);
}
