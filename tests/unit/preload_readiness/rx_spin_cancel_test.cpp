// pthread_cancel() of a thread waiting in poll or epoll_wait on an
// accelerated socket, in the spin on the RX rings or in the sleep after it:
// the spin always ends (RxSpin), so the progress thread gets the AF_XDP
// sockets back. The fake counts spinners as UdpEngine::rx_spinners_ does, and
// its fast_path_poll_once() is a cancellation point, as the real one can be
// (the engine's recvfrom and sendto wake-ups of the rings).
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "fake_fast_path.h"

using namespace xlane::test;

namespace {

constexpr unsigned kSpinUs = 300'000;  // the cancel comes well inside it

void* poll_forever(void* arg) {
    pollfd p{*static_cast<int*>(arg), POLLIN, 0};
    (void)::poll(&p, 1, -1);
    return nullptr;
}

void* epoll_forever(void* arg) {
    epoll_event event{};
    (void)::epoll_wait(*static_cast<int*>(arg), &event, 1, -1);
    return nullptr;
}

// Waits (bounded, `ms`) until `done` holds.
template <typename Done>
bool eventually(Done done, int ms = 5000) {
    for (int i = 0; i < ms; ++i) {
        if (done()) return true;
        ::usleep(1000);
    }
    return done();
}

// Cancels `thread` and joins it: true if it ended cancelled.
bool cancel_and_join(pthread_t thread) {
    REQUIRE(::pthread_cancel(thread) == 0);
    void* result = nullptr;
    REQUIRE(::pthread_join(thread, &result) == 0);
    return result == PTHREAD_CANCELED;
}

// Starts `wait` on a new thread, cancels it once it spins (or, `in_sleep`,
// once the spin is over and it sleeps), and joins it: true if it ended
// cancelled. A spin ends early when other threads keep wanting its CPU
// (SpinYield), as under a parallel test run: a thread whose spin was over
// before it was seen spinning is cancelled in its sleep, and a new one tries
// again, so the spin case is still the one tested.
bool cancel_waiting_thread(void* (*wait)(void*), void* arg, bool in_sleep) {
    for (int attempt = 0; attempt < 20; ++attempt) {
        const unsigned calls = poll_once_calls();
        pthread_t thread;
        REQUIRE(::pthread_create(&thread, nullptr, wait, arg) == 0);
        // Seen within the spin's length (kSpinUs), or its spin was cut short.
        const bool spinning = eventually(
            [&] { return rx_spinners() == 1 && poll_once_calls() > calls; }, kSpinUs / 1000);
        if (in_sleep) {
            REQUIRE(eventually([] { return rx_spinners() == 0; }));
            return cancel_and_join(thread);
        }
        if (spinning) return cancel_and_join(thread);
        REQUIRE(cancel_and_join(thread));  // its spin was over: a sleep case
    }
    FAIL("the waiting thread's spin always ended before it was seen (20 tries)");
    return false;
}

struct AcceleratedUdp {
    int fd = udp_socket(AF_INET);
    AcceleratedUdp() {
        accelerate(fd);
        set_spin_us(kSpinUs);
    }
    ~AcceleratedUdp() {
        set_spin_us(0);
        close_socket(fd);
    }
};

}  // namespace

TEST_CASE("rx spin: a thread cancelled in poll leaves no spinner behind") {
    AcceleratedUdp socket;
    const bool in_sleep = GENERATE(true, false);
    INFO((in_sleep ? "cancelled in the sleep" : "cancelled in the spin"));
    CHECK(cancel_waiting_thread(poll_forever, &socket.fd, in_sleep));
    CHECK(rx_spinners() == 0);
}

TEST_CASE("rx spin: a thread cancelled in epoll_wait leaves no spinner behind") {
    AcceleratedUdp socket;
    int ep = ::epoll_create1(EPOLL_CLOEXEC);
    REQUIRE(ep >= 0);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = socket.fd;
    REQUIRE(::epoll_ctl(ep, EPOLL_CTL_ADD, socket.fd, &event) == 0);
    const bool in_sleep = GENERATE(true, false);
    INFO((in_sleep ? "cancelled in the sleep" : "cancelled in the spin"));
    CHECK(cancel_waiting_thread(epoll_forever, &ep, in_sleep));
    CHECK(rx_spinners() == 0);
    close_fd(ep);
}
