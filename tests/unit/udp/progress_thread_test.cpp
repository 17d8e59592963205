// ProgressThread and RX spinners: while an application thread busy-polls the
// rings, a readable AF_XDP socket must not wake the progress thread per
// frame (it rechecks every kSpunRxRecheck), and the last spinner going to
// sleep hands the rings back at once. An eventfd stands in for the socket.
#include "engine/progress_thread.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

using namespace std::chrono_literals;
using xlane::engine::ProgressThread;

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
uint64_t wakeups_over(std::chrono::milliseconds span, const Rx& rx, std::atomic<int>& spinners) {
    auto thread = ProgressThread::start(
        {}, {rx.fd}, &spinners, 1000ms, [] {}, {}, 200us);
    REQUIRE(thread);
    std::this_thread::sleep_for(span);
    return thread.value()->wakeups();
}

}  // namespace

TEST_CASE("progress thread: a readable RX fd wakes it while nobody spins") {
    Rx rx;
    rx.make_readable();
    std::atomic<int> spinners{0};
    // Level-triggered and never drained: it runs round after round.
    CHECK(wakeups_over(100ms, rx, spinners) > 500);
}

TEST_CASE("progress thread: while an RX spinner runs, it only rechecks every kSpunRxRecheck") {
    Rx rx;
    rx.make_readable();
    std::atomic<int> spinners{1};
    const auto rounds = wakeups_over(100ms, rx, spinners);
    // 1 ms rechecks: about 100 in 100 ms; never the hundreds of thousands of
    // a readable fd.
    CHECK(rounds <= 100ms / ProgressThread::kSpunRxRecheck + 20);
}

TEST_CASE("progress thread: once the spinners are gone it takes frames in again") {
    Rx rx;
    std::atomic<int> spinners{1};
    std::atomic<bool> drained{false};
    auto thread = ProgressThread::start(
        {}, {rx.fd}, &spinners, 1000ms,
        [&] {
            if (rx.drain()) drained.store(true);
        },
        {}, 200us);
    REQUIRE(thread);
    std::this_thread::sleep_for(20ms);  // it sleeps without the RX fd now
    spinners.store(0);
    thread.value()->rx_spinners_gone();
    rx.make_readable();
    const auto start = std::chrono::steady_clock::now();
    while (!drained.load() && std::chrono::steady_clock::now() - start < 5s)
        std::this_thread::sleep_for(100us);
    CHECK(drained.load());
}
