// ProgressThread and RX takers: while an application thread busy-polls the
// rings (a spinner, or a poller whose lease runs), a readable AF_XDP socket
// must not wake the progress thread per frame (it rechecks every
// kSpunRxRecheck); the last spinner going to sleep hands the rings back at
// once, an expired lease within a recheck. An eventfd stands in for the socket.
#include "engine/progress_thread.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
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

// What a thread whose callback leaves the RX fd readable did over `span`.
struct Counts {
    uint64_t rounds = 0;
    uint64_t unpolled_recheck_rounds = 0;
    uint64_t rechecks = 0;
};
Counts counts_over(std::chrono::milliseconds span, const Rx& rx, const RxTakers& takers) {
    auto thread = ProgressThread::start(
        {}, {rx.fd}, &takers, 1000ms, [] {}, {}, 200us);
    REQUIRE(thread);
    std::this_thread::sleep_for(span);
    thread.value()->stop();  // the counters are final (and read consistently)
    Counts counts;
    counts.rounds = thread.value()->wakeups();
    counts.unpolled_recheck_rounds = thread.value()->unpolled_recheck_rounds();
    counts.rechecks = thread.value()->rx_rechecks();
    return counts;
}

}  // namespace

TEST_CASE("progress thread: a readable RX fd wakes it while nobody spins") {
    Rx rx;
    rx.make_readable();
    RxTakers takers;
    // Level-triggered and never drained: it runs round after round.
    const Counts counts = counts_over(100ms, rx, takers);
    CHECK(counts.rounds > 500);
    CHECK(counts.rechecks == 0);
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
    const Counts counts = counts_over(100ms, rx, takers);
    // The readable RX fd never woke it: every round was a recheck's.
    CHECK(counts.rounds <= counts.unpolled_recheck_rounds);
    // About 100 rechecks. Each that found the spinner's polls moved ran no
    // round; one that did not (the spinner off its CPU for the whole 1 ms,
    // as on a loaded host or in a sanitizer build) ran one, so only "not at
    // every recheck" holds whatever the load.
    CHECK(counts.rechecks >= 10);
    CHECK(counts.unpolled_recheck_rounds < counts.rechecks);
}

TEST_CASE("progress thread: a spinner that stops polling gets a round at each recheck") {
    // Counted but off its CPU (preempted, or yielding a time slice to
    // another thread): the frames of threads sleeping in poll/epoll_wait
    // must not wait for it, only for the next recheck.
    Rx rx;
    rx.make_readable();
    RxTakers takers;
    takers.spinners.store(1);
    const Counts counts = counts_over(100ms, rx, takers);
    // A round at each recheck (1 ms), and none for the readiness of the fd.
    CHECK(counts.rechecks >= 10);
    CHECK(counts.unpolled_recheck_rounds == counts.rechecks);
    CHECK(counts.rounds <= counts.unpolled_recheck_rounds);
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
    thread.value()->stop();
    const uint64_t rounds = thread.value()->wakeups();
    const uint64_t recheck_rounds = thread.value()->unpolled_recheck_rounds();
    const auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(rounds >= 1);
    // Rechecks that found the spinner off its CPU ran rounds of their own
    // (a loaded host); the rest are ticks, one per 20 ms at most.
    const uint64_t ticks = rounds - std::min(rounds, recheck_rounds);
    CHECK(ticks <= uint64_t(elapsed / 20ms) + 2);
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
    const Counts counts = counts_over(100ms, rx, takers);
    // Nobody polls the rings meanwhile: a round at each recheck, and none
    // for the readiness of the fd.
    CHECK(counts.rechecks >= 10);
    CHECK(counts.unpolled_recheck_rounds == counts.rechecks);
    CHECK(counts.rounds <= counts.unpolled_recheck_rounds);
}

TEST_CASE("progress thread: once a poller's lease ends it watches the RX fds again") {
    Rx rx;
    rx.make_readable();
    RxTakers takers;
    takers.poller_until_ns.store(monotonic_ns_after(30ms));
    // 30 ms of rechecks (about 30 rounds), then a round per wake-up of the
    // readable fd (hundreds in the 70 ms left); no nudge needed.
    const Counts counts = counts_over(100ms, rx, takers);
    CHECK(counts.rounds > counts.unpolled_recheck_rounds + 100);
}
