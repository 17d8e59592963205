// XLANE_SPIN_KERNEL: poll/ppoll, select/pselect and epoll_wait without an
// accelerated fd spin in zero-timeout kernel calls before they sleep. Whether
// a thread slept is read from its voluntary context switches (a spinning
// thread has none), so these tests do not depend on timing for their verdict.
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <thread>

#include "fake_fast_path.h"
#include "readiness_test_support.h"

using namespace std::chrono_literals;
using namespace xlane::test;

namespace {

// This thread's voluntary context switches so far: sleeps in the kernel.
long voluntary_switches() {
    rusage usage{};
    REQUIRE(::getrusage(RUSAGE_THREAD, &usage) == 0);
    return usage.ru_nvcsw;
}

long involuntary_switches() {
    rusage usage{};
    REQUIRE(::getrusage(RUSAGE_THREAD, &usage) == 0);
    return usage.ru_nivcsw;
}

// Longer than SpinYield's gap (20 ms): a run of "CPU wanted" looks left by
// this thread's previous wait is forgotten, so a spin that gives up here
// did so on three looks of its own, each an involuntary switch.
void forget_earlier_spins() {
    std::this_thread::sleep_for(25ms);
}

// The switches before a wait that should spin throughout.
struct SpinWatch {
    SpinWatch() {
        forget_earlier_spins();
        voluntary = voluntary_switches();
        involuntary = involuntary_switches();
    }
    long voluntary = 0;
    long involuntary = 0;
    // It never slept, or slept only once other threads had taken its CPU
    // three times (a spin ends in a sleep when its CPU stays wanted, as on
    // a loaded host: SpinYield).
    [[nodiscard]] bool spun() const {
        return voluntary_switches() == voluntary || involuntary_switches() - involuntary >= 3;
    }
};

// Sets the kernel spin for one test and turns it off again.
struct KernelSpin {
    explicit KernelSpin(unsigned us) { set_kernel_spin_us(us); }
    ~KernelSpin() { set_kernel_spin_us(0); }
};

constexpr unsigned kLongSpinUs = 5'000'000;  // far longer than any wait below

}  // namespace

TEST_CASE("kernel spin: poll finds a late datagram without sleeping") {
    Pair pair;
    KernelSpin spin(kLongSpinUs);
    const SpinWatch watch;
    Later writer(30ms, [&] { pair.make_readable(); });
    pollfd p{pair.fds[1], POLLIN, 0};
    CHECK(::poll(&p, 1, -1) == 1);
    CHECK(p.revents == POLLIN);
    CHECK(watch.spun());
}

TEST_CASE("kernel spin off: the same poll sleeps in the kernel") {
    Pair pair;
    const long before = voluntary_switches();
    Later writer(30ms, [&] { pair.make_readable(); });
    pollfd p{pair.fds[1], POLLIN, 0};
    CHECK(::poll(&p, 1, -1) == 1);
    CHECK(voluntary_switches() > before);
}

TEST_CASE("kernel spin: a timeout shorter than the spin ends the call with 0") {
    Pair pair;
    KernelSpin spin(kLongSpinUs);
    const Stopwatch watch;
    pollfd p{pair.fds[1], POLLIN, 0};
    CHECK(::poll(&p, 1, 40) == 0);
    CHECK(p.revents == 0);
    CHECK(watch.ms() >= 40);
    CHECK(watch.ms() < 2000);
}

TEST_CASE("kernel spin: a signal during the spin interrupts poll and ppoll with EINTR") {
    install_interrupting_handler();
    Pair pair;
    KernelSpin spin(kLongSpinUs);
    pollfd p{pair.fds[1], POLLIN, 0};
    {
        DelayedSignal signal(::pthread_self(), 30ms);
        errno = 0;
        CHECK(::poll(&p, 1, -1) == -1);
        CHECK(errno == EINTR);
    }
    {
        // ppoll's mask holds SIGUSR1 back: the spin goes on to the data.
        sigset_t blocked;
        sigemptyset(&blocked);
        sigaddset(&blocked, SIGUSR1);
        DelayedSignal signal(::pthread_self(), 10ms);
        Later writer(60ms, [&] { pair.make_readable(); });
        const timespec timeout{3, 0};
        CHECK(::ppoll(&p, 1, &timeout, &blocked) == 1);
    }
    // The held-back signals were delivered when ppoll's mask went away.
    sigset_t pending;
    sigpending(&pending);
    CHECK_FALSE(sigismember(&pending, SIGUSR1));
}

TEST_CASE("kernel spin: select keeps the sets through empty rounds and reports the ready fd") {
    Pair pair;
    Pair idle;
    KernelSpin spin(kLongSpinUs);
    fd_set readable;
    FD_ZERO(&readable);
    FD_SET(pair.fds[1], &readable);
    FD_SET(idle.fds[1], &readable);
    const int nfds = std::max(pair.fds[1], idle.fds[1]) + 1;
    timeval timeout{3, 0};
    const SpinWatch watch;
    Later writer(30ms, [&] { pair.make_readable(); });
    CHECK(::select(nfds, &readable, nullptr, nullptr, &timeout) == 1);
    CHECK(FD_ISSET(pair.fds[1], &readable));
    CHECK_FALSE(FD_ISSET(idle.fds[1], &readable));
    CHECK(watch.spun());
    // select reports the time left, as Linux does.
    CHECK(timeout.tv_sec <= 2);
    CHECK(timeout.tv_sec >= 1);
}

TEST_CASE("kernel spin: epoll_wait over kernel fds finds a late event without sleeping") {
    Pair pair;
    const int epfd = ::epoll_create1(EPOLL_CLOEXEC);
    REQUIRE(epfd >= 0);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = 42;
    REQUIRE(::epoll_ctl(epfd, EPOLL_CTL_ADD, pair.fds[1], &event) == 0);
    {
        KernelSpin spin(kLongSpinUs);
        const SpinWatch watch;
        Later writer(30ms, [&] { pair.make_readable(); });
        epoll_event got[4]{};
        CHECK(::epoll_wait(epfd, got, 4, -1) == 1);
        CHECK(got[0].data.u64 == 42);
        CHECK(watch.spun());
    }
    install_interrupting_handler();
    {
        char byte = 0;
        REQUIRE(::read(pair.fds[1], &byte, 1) == 1);
        KernelSpin spin(kLongSpinUs);
        DelayedSignal signal(::pthread_self(), 30ms);
        epoll_event got[4]{};
        errno = 0;
        CHECK(::epoll_wait(epfd, got, 4, -1) == -1);
        CHECK(errno == EINTR);
    }
    ::close(epfd);
}
