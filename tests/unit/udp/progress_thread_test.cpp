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

TEST_CASE("progress thread: while an RX spinner runs, it only rechecks every kSpunRxRecheck") {
    Rx rx;
    rx.make_readable();
    RxTakers takers;
    takers.spinners.store(1);
    const auto rounds = wakeups_over(100ms, rx, takers);
    // 1 ms rechecks: about 100 in 100 ms; never the hundreds of thousands of
    // a readable fd.
    CHECK(rounds <= 100ms / ProgressThread::kSpunRxRecheck + 20);
}

TEST_CASE("progress thread: a recheck that finds the spinners still there runs no round") {
    // A round takes the engine mutex and a CPU the spinners use; a recheck
    // only looks whether the RX fds are still theirs.
    Rx rx;
    rx.make_readable();
    RxTakers takers;
    takers.spinners.store(1);
    CHECK(wakeups_over(100ms, rx, takers) == 0);
}

TEST_CASE("progress thread: the long tick still comes while spinners keep the RX fds") {
    Rx rx;
    rx.make_readable();
    RxTakers takers;
    takers.spinners.store(1);
    // 20 ms ticks over 110 ms: about 5 rounds, though the thread wakes every
    // 1 ms to recheck (the tick counts from the last round, not the last sleep).
    auto thread = ProgressThread::start({}, {rx.fd}, &takers, 20ms, [] {}, {}, 200us);
    REQUIRE(thread);
    std::this_thread::sleep_for(110ms);
    const uint64_t rounds = thread.value()->wakeups();
    CHECK(rounds >= 3);
    CHECK(rounds <= 7);
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
