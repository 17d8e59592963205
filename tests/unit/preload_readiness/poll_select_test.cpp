// poll/ppoll/select/pselect of libxlane.so over the fake fast path: POLLIN of
// an accelerated fd is its eventfd's, the rest is the socket's; counts,
// order, POLLNVAL, timeouts across the spin, EINTR, sigmask, fd_set results.
#include <poll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>

#include "fake_fast_path.h"
#include "readiness_test_support.h"

using namespace std::chrono_literals;
using namespace xlane::test;

namespace {

struct Udp {
    int fd;
    explicit Udp(bool accelerated) : fd(udp_socket(AF_INET)) {
        if (accelerated) accelerate(fd);
    }
    ~Udp() { close_socket(fd); }
};

short poll_one(int fd, short events, int timeout = 0) {
    pollfd p{fd, events, 0};
    const int ret = ::poll(&p, 1, timeout);
    REQUIRE(ret >= 0);
    CHECK(ret == (p.revents != 0 ? 1 : 0));
    return p.revents;
}

}  // namespace

TEST_CASE("poll over kernel fds only is the kernel's poll") {
    Pair pair;
    const unsigned spins = poll_once_calls();
    CHECK(poll_one(pair.fds[1], POLLIN | POLLOUT) == POLLOUT);
    pair.make_readable();
    CHECK(poll_one(pair.fds[1], POLLIN) == POLLIN);
    CHECK(poll_once_calls() == spins);  // never spun: nothing accelerated
}

TEST_CASE("poll: an accelerated fd's POLLIN is its eventfd's, POLLOUT the socket's") {
    Udp a(true);
    CHECK(poll_one(a.fd, POLLIN | POLLOUT) == POLLOUT);
    CHECK(poll_one(a.fd, POLLIN) == 0);
    deliver(a.fd);
    CHECK(poll_one(a.fd, POLLIN | POLLOUT) == (POLLIN | POLLOUT));
    CHECK(poll_one(a.fd, POLLRDNORM) == POLLRDNORM);  // only the bits asked for
    CHECK(poll_one(a.fd, POLLOUT) == POLLOUT);
    REQUIRE(consume(a.fd));
    CHECK(poll_one(a.fd, POLLIN) == 0);
}

TEST_CASE("poll: the kernel socket's own queue does not count once accelerated") {
    Udp a(false);
    const uint16_t port = bind_loopback(a.fd);
    accelerate(a.fd);
    send_loopback(port);
    std::this_thread::sleep_for(20ms);
    CHECK(poll_one(a.fd, POLLIN) == 0);  // the engine drains it; the eventfd decides
    release(a.fd);
    CHECK(poll_one(a.fd, POLLIN, 1000) == POLLIN);  // back on the kernel path
}

TEST_CASE("poll: mixed arrays keep order, count, POLLNVAL and ignored slots") {
    Pair pair;
    pair.make_readable();
    Udp ready(true);
    Udp idle(true);
    deliver(ready.fd);
    pollfd p[5] = {{pair.fds[1], POLLIN, 0},
                   {ready.fd, POLLIN, 0},
                   {-1, POLLIN, 77},
                   {9999, POLLIN, 0},
                   {idle.fd, POLLIN, 0}};
    CHECK(::poll(p, 5, 0) == 3);
    CHECK(p[0].revents == POLLIN);
    CHECK(p[1].revents == POLLIN);
    CHECK(p[2].revents == 0);
    CHECK(p[3].revents == POLLNVAL);
    CHECK(p[4].revents == 0);
    CHECK(p[1].fd == ready.fd);  // the caller's array is not rewritten
    CHECK(p[1].events == POLLIN);
}

TEST_CASE("poll: the timeout counts the spin, and spinning finds late data") {
    Udp a(true);
    set_spin_us(20000);
    const unsigned before = poll_once_calls();
    Stopwatch watch;
    CHECK(poll_one(a.fd, POLLIN, 100) == 0);
    CHECK(watch.ms() >= 100);
    CHECK(watch.ms() < 5000);
    CHECK(poll_once_calls() > before);  // it did spin before sleeping

    set_spin_us(5000000);  // long enough that only the spin can see the data
    deliver_on_poll_once(a.fd, 3);
    CHECK(poll_one(a.fd, POLLIN, -1) == POLLIN);
    CHECK(poll_once_calls() >= before + 3);
    set_spin_us(0);
}

TEST_CASE("poll sleeps in the kernel until another thread's data arrives") {
    Udp a(true);
    Pair pair;
    pollfd p[2] = {{pair.fds[1], POLLIN, 0}, {a.fd, POLLIN, 0}};
    {
        Later later(50ms, [&] { deliver(a.fd); });
        CHECK(::poll(p, 2, 10000) == 1);
    }
    CHECK(p[0].revents == 0);
    CHECK(p[1].revents == POLLIN);
}

TEST_CASE("poll and ppoll: EINTR, and ppoll's signal mask") {
    install_interrupting_handler();
    Udp a(true);
    {
        DelayedSignal signal(pthread_self(), 50ms);
        pollfd p{a.fd, POLLIN, 0};
        errno = 0;
        CHECK(::poll(&p, 1, 10000) == -1);
        CHECK(errno == EINTR);
    }
    // SIGUSR1 blocked in the thread, unblocked only while ppoll waits.
    sigset_t blocked, old, during;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGUSR1);
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &blocked, &old) == 0);
    sigemptyset(&during);
    {
        DelayedSignal signal(pthread_self(), 50ms);
        pollfd p{a.fd, POLLIN, 0};
        const timespec t{10, 0};
        errno = 0;
        CHECK(::ppoll(&p, 1, &t, &during) == -1);
        CHECK(errno == EINTR);
    }
    {
        // Kept blocked while waiting: the wait times out, the signal stays pending.
        DelayedSignal signal(pthread_self(), 10ms);
        pollfd p{a.fd, POLLIN, 0};
        const timespec t{0, 200000000};
        CHECK(::ppoll(&p, 1, &t, &blocked) == 0);
    }
    sigset_t pending;
    sigpending(&pending);
    CHECK(sigismember(&pending, SIGUSR1) == 1);
    REQUIRE(::pthread_sigmask(SIG_SETMASK, &old, nullptr) == 0);  // delivers it
}

TEST_CASE(
    "poll and ppoll: a signal that arrives while spinning interrupts, under the call's mask") {
    install_interrupting_handler();
    static std::atomic<int> handled{0};
    struct sigaction counting {};
    counting.sa_handler = [](int) { handled.fetch_add(1); };
    sigemptyset(&counting.sa_mask);
    ::sigaction(SIGUSR1, &counting, nullptr);
    Udp a(true);
    set_spin_us(10000000);  // the whole wait is spin: only the signal can end it early
    {
        DelayedSignal signal(pthread_self(), 50ms);
        pollfd p{a.fd, POLLIN, 0};
        Stopwatch watch;
        errno = 0;
        CHECK(::poll(&p, 1, 3000) == -1);
        CHECK(errno == EINTR);
        CHECK(watch.ms() < 2500);
        CHECK(handled.load() >= 1);
    }
    const int before_ppoll = handled.load();
    // ppoll's mask blocks the signal: not delivered while the call lasts.
    sigset_t blocking;
    sigemptyset(&blocking);
    sigaddset(&blocking, SIGUSR1);
    {
        DelayedSignal signal(pthread_self(), 20ms);
        pollfd p{a.fd, POLLIN, 0};
        const timespec t{0, 200000000};
        CHECK(::ppoll(&p, 1, &t, &blocking) == 0);
        // Checked after the call: delivered once the thread's mask is back.
    }
    CHECK(handled.load() > before_ppoll);
    set_spin_us(0);
    install_interrupting_handler();
}

TEST_CASE("select: fd_set results, count and time left as the kernel computes them") {
    Udp ready(true);
    Udp idle(true);
    Pair pair;
    pair.make_readable();
    deliver(ready.fd);
    const int nfds = std::max({ready.fd, idle.fd, pair.fds[1]}) + 1;
    fd_set r, w;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(ready.fd, &r);
    FD_SET(idle.fd, &r);
    FD_SET(pair.fds[1], &r);
    FD_SET(ready.fd, &w);
    timeval tv{1, 0};
    CHECK(::select(nfds, &r, &w, nullptr, &tv) == 3);
    CHECK(FD_ISSET(ready.fd, &r));
    CHECK(!FD_ISSET(idle.fd, &r));
    CHECK(FD_ISSET(pair.fds[1], &r));
    CHECK(FD_ISSET(ready.fd, &w));
    CHECK((tv.tv_sec == 1 || tv.tv_sec == 0));
    CHECK(tv.tv_usec >= 0);

    // Nothing ready: timeout, cleared sets, no time left.
    FD_ZERO(&r);
    FD_SET(idle.fd, &r);
    tv = timeval{0, 50000};
    Stopwatch watch;
    CHECK(::select(nfds, &r, nullptr, nullptr, &tv) == 0);
    CHECK(watch.ms() >= 50);
    CHECK(!FD_ISSET(idle.fd, &r));
    CHECK(tv.tv_sec == 0);
    CHECK(tv.tv_usec == 0);
}

TEST_CASE("select: a closed fd is EBADF and the sets stay as they were") {
    Udp a(true);
    const int closed = ::dup(a.fd);
    ::close(closed);
    fd_set r;
    FD_ZERO(&r);
    FD_SET(a.fd, &r);
    FD_SET(closed, &r);
    timeval tv{0, 0};
    errno = 0;
    CHECK(::select(std::max(a.fd, closed) + 1, &r, nullptr, nullptr, &tv) == -1);
    CHECK(errno == EBADF);
    CHECK(FD_ISSET(closed, &r));
    CHECK(FD_ISSET(a.fd, &r));
}

TEST_CASE("pselect: const timeout, signal mask, readiness of accelerated fds") {
    install_interrupting_handler();
    Udp a(true);
    fd_set r;
    FD_ZERO(&r);
    FD_SET(a.fd, &r);
    const timespec t{0, 30000000};
    CHECK(::pselect(a.fd + 1, &r, nullptr, nullptr, &t, nullptr) == 0);
    CHECK(t.tv_nsec == 30000000);
    deliver(a.fd);
    FD_ZERO(&r);
    FD_SET(a.fd, &r);
    CHECK(::pselect(a.fd + 1, &r, nullptr, nullptr, &t, nullptr) == 1);
    CHECK(FD_ISSET(a.fd, &r));
    REQUIRE(consume(a.fd));

    sigset_t blocked, old, during;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGUSR1);
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &blocked, &old) == 0);
    sigemptyset(&during);
    {
        DelayedSignal signal(pthread_self(), 50ms);
        FD_ZERO(&r);
        FD_SET(a.fd, &r);
        errno = 0;
        CHECK(::pselect(a.fd + 1, &r, nullptr, nullptr, nullptr, &during) == -1);
        CHECK(errno == EINTR);
    }
    REQUIRE(::pthread_sigmask(SIG_SETMASK, &old, nullptr) == 0);
}

TEST_CASE("poll: a zero-timeout call takes in what the rings hold itself") {
    // A busy-polling loop (poll with timeout 0) drives RX once before it
    // looks: a datagram on the rings shows in that very call.
    set_spin_us(0);
    Udp a(true);
    const unsigned before = poll_once_calls();
    deliver_on_poll_once(a.fd, 1);
    CHECK(poll_one(a.fd, POLLIN, 0) == POLLIN);
    CHECK(poll_once_calls() == before + 1);
    REQUIRE(consume(a.fd));
}

namespace {

// A fake accelerated TCP socket for the length of a test.
struct Stream {
    int fd;
    explicit Stream(short mask) : fd(stream_socket(mask)) {}
    ~Stream() { close_stream(fd); }
};

struct PollOsRatio {
    explicit PollOsRatio(unsigned ratio) { set_poll_os_ratio(ratio); }
    ~PollOsRatio() { set_poll_os_ratio(0); }
};

}  // namespace

TEST_CASE("poll: a ready TCP socket answers alone, the kernel's fds at least every ratio calls") {
    Stream stream(POLLIN | POLLOUT);
    Pair pair;
    pair.make_readable();
    const PollOsRatio ratio(4);
    // A first call that asks the kernel (nothing of the engine's ready)
    // starts the count afresh, whatever earlier tests of this thread did.
    set_stream_mask(stream.fd, 0);
    pollfd p[2] = {{stream.fd, POLLIN, 0}, {pair.fds[1], POLLIN, 0}};
    REQUIRE(::poll(p, 2, 0) == 1);
    CHECK(p[1].revents == POLLIN);
    set_stream_mask(stream.fd, POLLIN | POLLOUT);

    // Three calls in a row answer from the engine alone: the readable
    // socketpair reads as not ready; the fourth asks the kernel.
    for (int call = 1; call <= 3; ++call) {
        p[0].revents = p[1].revents = -1;
        REQUIRE(::poll(p, 2, 0) == 1);
        CHECK(p[0].revents == POLLIN);
        CHECK(p[1].revents == 0);
    }
    REQUIRE(::poll(p, 2, 0) == 2);
    CHECK(p[0].revents == POLLIN);
    CHECK(p[1].revents == POLLIN);
    // The count starts again after the look.
    REQUIRE(::poll(p, 2, 0) == 1);
    CHECK(p[1].revents == 0);

    // Ratio 0 or 1: every call asks the kernel.
    set_poll_os_ratio(1);
    for (int call = 0; call < 3; ++call) {
        REQUIRE(::poll(p, 2, 0) == 2);
        CHECK(p[1].revents == POLLIN);
    }
}

TEST_CASE("poll: the engine-only answer needs a ready TCP socket, and no signal mask") {
    Stream stream(POLLOUT);  // writable only
    Pair pair;
    pair.make_readable();
    const PollOsRatio ratio(1000);
    // Asked for POLLIN only: nothing of the engine's is ready, the kernel answers.
    pollfd p[2] = {{stream.fd, POLLIN, 0}, {pair.fds[1], POLLIN, 0}};
    for (int call = 0; call < 3; ++call) {
        REQUIRE(::poll(p, 2, 0) == 1);
        CHECK(p[0].revents == 0);
        CHECK(p[1].revents == POLLIN);
    }
    // With a signal mask (ppoll), always the kernel: pending signals count.
    p[0].events = POLLOUT;
    sigset_t mask;
    sigemptyset(&mask);
    const timespec zero{0, 0};
    for (int call = 0; call < 3; ++call) {
        REQUIRE(::ppoll(p, 2, &zero, &mask) == 2);
        CHECK(p[0].revents == POLLOUT);
        CHECK(p[1].revents == POLLIN);
    }
}

TEST_CASE("select: a ready TCP socket answers alone until the kernel's turn") {
    Stream stream(POLLIN);
    Pair pair;
    pair.make_readable();
    const PollOsRatio ratio(3);
    set_stream_mask(stream.fd, 0);
    fd_set r;
    FD_ZERO(&r);
    FD_SET(pair.fds[1], &r);
    FD_SET(stream.fd, &r);
    timeval zero{0, 0};
    const int nfds = std::max(stream.fd, pair.fds[1]) + 1;
    REQUIRE(::select(nfds, &r, nullptr, nullptr, &zero) == 1);  // the kernel's look
    set_stream_mask(stream.fd, POLLIN);
    int pair_seen = 0;
    for (int call = 0; call < 3; ++call) {
        FD_ZERO(&r);
        FD_SET(pair.fds[1], &r);
        FD_SET(stream.fd, &r);
        zero = timeval{0, 0};
        const int ret = ::select(nfds, &r, nullptr, nullptr, &zero);
        CHECK(FD_ISSET(stream.fd, &r));
        pair_seen += FD_ISSET(pair.fds[1], &r) ? 1 : 0;
        CHECK(ret == 1 + (FD_ISSET(pair.fds[1], &r) ? 1 : 0));
    }
    CHECK(pair_seen == 1);  // calls 1 and 2 from the engine, the third asked the kernel
}
