// epoll of libxlane.so over the fake fast path: one event per fd with the
// program's data, EPOLLIN from the eventfd and the rest from the socket,
// LT/ET/ONESHOT/MOD/DEL, the kernel's errors, sockets accelerated or released
// while registered, closing, timeouts, EINTR, sigmask, nesting, threads.
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fake_fast_path.h"
#include "fast_path.h"
#include "readiness_test_support.h"
#include "socket_table.h"

using namespace std::chrono_literals;
using namespace xlane::test;

namespace {

struct Epoll {
    int fd = ::epoll_create1(EPOLL_CLOEXEC);
    Epoll() { REQUIRE(fd >= 0); }
    ~Epoll() { close_fd(fd); }
    int add(int target, uint32_t events, uint64_t data) const {
        epoll_event e{};
        e.events = events;
        e.data.u64 = data;
        return ::epoll_ctl(fd, EPOLL_CTL_ADD, target, &e);
    }
    int mod(int target, uint32_t events, uint64_t data) const {
        epoll_event e{};
        e.events = events;
        e.data.u64 = data;
        return ::epoll_ctl(fd, EPOLL_CTL_MOD, target, &e);
    }
    int del(int target) const { return ::epoll_ctl(fd, EPOLL_CTL_DEL, target, nullptr); }
    // data -> events of one wait; fails the test on a duplicate fd (data).
    std::map<uint64_t, uint32_t> wait(int timeout_ms = 0, int max = 64) const {
        std::vector<epoll_event> out(static_cast<size_t>(max));
        const int n = ::epoll_wait(fd, out.data(), max, timeout_ms);
        REQUIRE(n >= 0);
        std::map<uint64_t, uint32_t> got;
        for (int i = 0; i < n; ++i) {
            CHECK(got.count(out[static_cast<size_t>(i)].data.u64) == 0);  // one event per fd
            got[out[static_cast<size_t>(i)].data.u64] = out[static_cast<size_t>(i)].events;
        }
        return got;
    }
};

struct Udp {
    int fd;
    explicit Udp(bool accelerated) : fd(udp_socket(AF_INET)) {
        if (accelerated) accelerate(fd);
    }
    ~Udp() {
        if (fd >= 0) close_socket(fd);
    }
};

using Events = std::map<uint64_t, uint32_t>;

// An address the kernel refuses with EFAULT, out of the compiler's sight.
epoll_event* bad_event() {
    volatile uintptr_t address = 1;
    return reinterpret_cast<epoll_event*>(address);
}

std::string outcome(int ret) {
    return ret == 0 ? "0" : "-1 " + std::to_string(errno);
}

}  // namespace

TEST_CASE("epoll: level-triggered EPOLLIN follows the eventfd, data intact") {
    Epoll ep;
    Udp a(true);
    const uint64_t data = 0x1122334455667788ULL;
    REQUIRE(ep.add(a.fd, EPOLLIN, data) == 0);
    CHECK(ep.wait().empty());
    deliver(a.fd);
    CHECK(ep.wait() == Events{{data, EPOLLIN}});
    CHECK(ep.wait() == Events{{data, EPOLLIN}});  // level: still queued
    REQUIRE(consume(a.fd));
    CHECK(ep.wait().empty());
}

TEST_CASE("epoll: one event per fd, EPOLLIN and EPOLLOUT together, beside kernel fds") {
    Epoll ep;
    Udp a(true);
    Pair pair;
    REQUIRE(ep.add(a.fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, 7) == 0);
    REQUIRE(ep.add(pair.fds[1], EPOLLIN, 8) == 0);
    CHECK(ep.wait() == Events{{7, EPOLLOUT}});
    deliver(a.fd);
    pair.make_readable();
    CHECK(ep.wait() == Events{{7, EPOLLIN | EPOLLOUT}, {8, EPOLLIN}});
    // EPOLLRDNORM alone is answered with EPOLLRDNORM alone, as for a socket.
    REQUIRE(ep.mod(a.fd, EPOLLRDNORM, 9) == 0);
    CHECK(ep.wait() == Events{{9, EPOLLRDNORM}, {8, EPOLLIN}});
}

TEST_CASE("epoll: edge-triggered halves") {
    Epoll ep;
    Udp a(true);
    REQUIRE(ep.add(a.fd, EPOLLIN | EPOLLOUT | EPOLLET, 1) == 0);
    CHECK(ep.wait() == Events{{1, EPOLLOUT}});  // writable once
    CHECK(ep.wait().empty());
    deliver(a.fd);
    CHECK(ep.wait() == Events{{1, EPOLLIN}});
    CHECK(ep.wait().empty());  // no new edge while the queue stays non-empty
    REQUIRE(consume(a.fd));
    deliver(a.fd);
    CHECK(ep.wait() == Events{{1, EPOLLIN}});
}

TEST_CASE("epoll: EPOLLONESHOT disarms both halves until EPOLL_CTL_MOD re-arms") {
    Epoll ep;
    Udp a(true);
    deliver(a.fd);
    REQUIRE(ep.add(a.fd, EPOLLIN | EPOLLOUT | EPOLLONESHOT, 1) == 0);
    CHECK(ep.wait() == Events{{1, EPOLLIN | EPOLLOUT}});
    CHECK(ep.wait().empty());  // readable and writable, but disarmed
    REQUIRE(ep.mod(a.fd, EPOLLIN | EPOLLONESHOT, 2) == 0);
    CHECK(ep.wait() == Events{{2, EPOLLIN}});
    CHECK(ep.wait().empty());

    // The socket half fires first; the eventfd half must then stay quiet.
    REQUIRE(consume(a.fd));
    REQUIRE(ep.mod(a.fd, EPOLLIN | EPOLLOUT | EPOLLONESHOT, 3) == 0);
    CHECK(ep.wait() == Events{{3, EPOLLOUT}});
    deliver(a.fd);
    CHECK(ep.wait().empty());
    REQUIRE(ep.mod(a.fd, EPOLLIN | EPOLLONESHOT, 4) == 0);
    CHECK(ep.wait() == Events{{4, EPOLLIN}});
}

TEST_CASE("epoll: MOD changes events and data, DEL removes both halves") {
    Epoll ep;
    Udp a(true);
    deliver(a.fd);
    REQUIRE(ep.add(a.fd, EPOLLIN, 1) == 0);
    REQUIRE(ep.mod(a.fd, EPOLLOUT, 2) == 0);
    CHECK(ep.wait() == Events{{2, EPOLLOUT}});  // queued data no longer asked for
    REQUIRE(ep.mod(a.fd, EPOLLIN, 3) == 0);
    CHECK(ep.wait() == Events{{3, EPOLLIN}});
    REQUIRE(ep.del(a.fd) == 0);
    CHECK(ep.wait().empty());
    REQUIRE(ep.add(a.fd, EPOLLIN, 4) == 0);
    CHECK(ep.wait() == Events{{4, EPOLLIN}});
}

TEST_CASE("epoll_ctl answers for an accelerated socket exactly as the kernel for a plain one") {
    Epoll kernel_ep;
    Epoll fast_ep;
    Udp plain(false);
    Udp fast(true);
    Pair not_epoll;
    const int closed = ::dup(plain.fd);
    ::close(closed);

    // Each step runs on (epoll fd, socket) of both worlds.
    struct Step {
        const char* what;
        int (*run)(int ep, int fd, int not_epoll, int closed);
    };
    const Step steps[] = {
        {"add",
         [](int ep, int fd, int, int) {
             epoll_event e{EPOLLIN, {}};
             return ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
         }},
        {"add again",
         [](int ep, int fd, int, int) {
             epoll_event e{EPOLLIN, {}};
             return ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
         }},
        {"add again, bad flags",
         [](int ep, int fd, int, int) {
             epoll_event e{EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, {}};
             return ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
         }},
        {"mod exclusive",
         [](int ep, int fd, int, int) {
             epoll_event e{EPOLLIN | EPOLLEXCLUSIVE, {}};
             return ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
         }},
        {"mod, event unreadable",
         [](int ep, int fd, int, int) { return ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, bad_event()); }},
        {"mod",
         [](int ep, int fd, int, int) {
             epoll_event e{EPOLLOUT, {}};
             return ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
         }},
        {"del",
         [](int ep, int fd, int, int) { return ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr); }},
        {"del again",
         [](int ep, int fd, int, int) { return ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr); }},
        {"mod absent",
         [](int ep, int fd, int, int) {
             epoll_event e{EPOLLIN, {}};
             return ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
         }},
        {"add exclusive+oneshot",
         [](int ep, int fd, int, int) {
             epoll_event e{EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, {}};
             return ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
         }},
        {"add exclusive",
         [](int ep, int fd, int, int) {
             epoll_event e{EPOLLIN | EPOLLEXCLUSIVE, {}};
             return ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
         }},
        {"mod an exclusive one",
         [](int ep, int fd, int, int) {
             epoll_event e{EPOLLIN, {}};
             return ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
         }},
        {"del exclusive",
         [](int ep, int fd, int, int) { return ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr); }},
        {"add without event",
         [](int ep, int fd, int, int) { return ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, nullptr); }},
        {"add, event unreadable",
         [](int ep, int fd, int, int) { return ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, bad_event()); }},
        {"bad op",
         [](int ep, int fd, int, int) {
             epoll_event e{EPOLLIN, {}};
             return ::epoll_ctl(ep, 99, fd, &e);
         }},
        {"not an epoll fd",
         [](int, int fd, int not_epoll, int) {
             epoll_event e{EPOLLIN, {}};
             return ::epoll_ctl(not_epoll, EPOLL_CTL_ADD, fd, &e);
         }},
        {"closed epoll fd",
         [](int, int fd, int, int closed) {
             epoll_event e{EPOLLIN, {}};
             return ::epoll_ctl(closed, EPOLL_CTL_ADD, fd, &e);
         }},
        {"negative epoll fd",
         [](int, int fd, int, int) {
             epoll_event e{EPOLLIN, {}};
             return ::epoll_ctl(-1, EPOLL_CTL_ADD, fd, &e);
         }},
        {"socket on itself",
         [](int, int fd, int, int) {
             epoll_event e{EPOLLIN, {}};
             return ::epoll_ctl(fd, EPOLL_CTL_ADD, fd, &e);
         }},
    };
    for (const Step& step : steps) {
        errno = 0;
        const std::string by_kernel =
            outcome(step.run(kernel_ep.fd, plain.fd, not_epoll.fds[0], closed));
        errno = 0;
        const std::string by_xlane =
            outcome(step.run(fast_ep.fd, fast.fd, not_epoll.fds[0], closed));
        INFO(step.what);
        CHECK(by_kernel == by_xlane);
    }
}

TEST_CASE("epoll: a socket accelerated after ADD follows its eventfd, and goes back") {
    Epoll ep;
    Udp a(false);
    const uint16_t port = bind_loopback(a.fd);
    REQUIRE(ep.add(a.fd, EPOLLIN, 5) == 0);
    send_loopback(port);
    CHECK(ep.wait(1000) == Events{{5, EPOLLIN}});  // the kernel's readiness
    char byte;
    REQUIRE(::recv(a.fd, &byte, 1, 0) == 1);

    accelerate(a.fd);  // socket -> epoll_ctl ADD -> bind, as programs do
    CHECK(ep.wait().empty());
    deliver(a.fd);
    CHECK(ep.wait() == Events{{5, EPOLLIN}});
    REQUIRE(consume(a.fd));
    send_loopback(port);  // lands in the kernel socket, which the engine drains
    std::this_thread::sleep_for(20ms);
    CHECK(ep.wait().empty());

    release(a.fd);  // back to the kernel path with the program's registration
    CHECK(ep.wait(1000) == Events{{5, EPOLLIN}});
}

TEST_CASE("epoll: closing an accelerated socket leaves no stale event behind") {
    Epoll ep;
    Udp a(true);
    REQUIRE(ep.add(a.fd, EPOLLIN, 1) == 0);
    deliver(a.fd);
    const int number = a.fd;
    close_socket(a.fd);
    a.fd = -1;
    CHECK(ep.wait().empty());

    Udp b(true);  // most likely the same number
    INFO("old fd " << number << ", new fd " << b.fd);
    deliver(b.fd);
    CHECK(ep.wait().empty());  // not registered: nothing, and no cookie
    REQUIRE(ep.add(b.fd, EPOLLIN, 2) == 0);
    CHECK(ep.wait() == Events{{2, EPOLLIN}});
}

TEST_CASE("epoll: two fds of one accelerated socket (dup) in one set, each with its data") {
    Epoll ep;
    Udp a(true);
    Udp copy(false);
    ::close(copy.fd);  // reuse its number for the dup
    REQUIRE(::dup2(a.fd, copy.fd) == copy.fd);
    alias(copy.fd, a.fd);
    REQUIRE(ep.add(a.fd, EPOLLIN, 1) == 0);
    REQUIRE(ep.add(copy.fd, EPOLLIN, 2) == 0);  // the eventfd is in the set already
    CHECK(ep.wait().empty());
    deliver(a.fd);
    CHECK(ep.wait() == Events{{1, EPOLLIN}, {2, EPOLLIN}});
    REQUIRE(ep.del(a.fd) == 0);
    CHECK(ep.wait() == Events{{2, EPOLLIN}});
    REQUIRE(ep.del(copy.fd) == 0);
    CHECK(ep.wait().empty());
}

TEST_CASE("epoll after fork: the child waits on inherited and new sets") {
    Epoll inherited;
    Udp a(true);
    REQUIRE(inherited.add(a.fd, EPOLLIN, 1) == 0);
    deliver(a.fd);
    // Another thread in epoll_wait at the fork (it may hold registry locks).
    std::atomic<bool> stop{false};
    std::thread busy([&] {  // no Catch2 assertions off the main thread
        epoll_event out[4];
        while (!stop.load()) (void)::epoll_wait(inherited.fd, out, 4, 0);
    });
    const pid_t child = ::fork();
    if (child == 0) {
        int failures = 0;
        for (int i = 0; i < 100; ++i) {  // bounded: a lock left held would hang here
            epoll_event out[4];
            if (::epoll_wait(inherited.fd, out, 4, 1000) != 1 || out[0].data.u64 != 1) ++failures;
        }
        const int own = ::epoll_create1(0);
        epoll_event e{};
        e.events = EPOLLIN;
        e.data.u64 = 9;
        if (::epoll_ctl(own, EPOLL_CTL_ADD, a.fd, &e) != 0) ++failures;
        epoll_event out[4];
        if (::epoll_wait(own, out, 4, 1000) != 1 || out[0].data.u64 != 9) ++failures;
        ::_exit(failures == 0 ? 0 : 1);
    }
    stop.store(true);
    busy.join();
    REQUIRE(child > 0);
    int status = 0;
    // Bounded: the child gives up within ~100 s even if every wait times out.
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("epoll: a registration that outlived its record is dropped, never spun on") {
    Epoll ep;
    const int fd = udp_socket(AF_INET);
    accelerate(fd);
    REQUIRE(ep.add(fd, EPOLLIN | EPOLLOUT, 1) == 0);  // level-triggered: always writable
    const int keep = ::dup(fd);                       // the socket outlives the number
    ::close(fd);                                      // closed behind the registry's back,
    xlane::preload::epoll_on_fd_closed(fd);           // told too late: its DEL fails
    Stopwatch watch;
    CHECK(ep.wait(200).empty());  // nothing with the dead record's data
    CHECK(watch.ms() >= 200);
    // And the set is no longer readable: an epoll fd is readable only while
    // epoll_wait has something to report (else every wait would spin).
    pollfd p{ep.fd, POLLIN, 0};
    CHECK(::poll(&p, 1, 0) == 0);
    release(fd);
    xlane::preload::g_sockets.forget(fd);
    ::close(keep);
}

TEST_CASE("epoll: fewer slots than ready fds: each comes in turn, never twice in one call") {
    Epoll ep;
    Udp a1(true), a2(true);
    Pair k1, k2;
    deliver(a1.fd);
    deliver(a2.fd);
    k1.make_readable();
    k2.make_readable();
    REQUIRE(ep.add(a1.fd, EPOLLIN, 1) == 0);
    REQUIRE(ep.add(a2.fd, EPOLLIN, 2) == 0);
    REQUIRE(ep.add(k1.fds[1], EPOLLIN, 3) == 0);
    REQUIRE(ep.add(k2.fds[1], EPOLLIN, 4) == 0);
    std::set<uint64_t> seen;
    for (int i = 0; i < 12; ++i) {
        const Events got = ep.wait(0, 1);
        REQUIRE(got.size() == 1);
        seen.insert(got.begin()->first);
    }
    CHECK(seen == std::set<uint64_t>{1, 2, 3, 4});
    CHECK(ep.wait(0, 64).size() == 4);
}

TEST_CASE("epoll_wait: timeout across the spin, wake-up by another thread, EINTR, sigmask") {
    install_interrupting_handler();
    Epoll ep;
    Udp a(true);
    REQUIRE(ep.add(a.fd, EPOLLIN, 1) == 0);

    set_spin_us(20000);
    Stopwatch watch;
    CHECK(ep.wait(100).empty());
    CHECK(watch.ms() >= 100);
    CHECK(watch.ms() < 5000);
    set_spin_us(0);

    {
        Later later(50ms, [&] { deliver(a.fd); });
        CHECK(ep.wait(10000) == Events{{1, EPOLLIN}});
    }
    REQUIRE(consume(a.fd));

    {
        DelayedSignal signal(pthread_self(), 50ms);
        epoll_event out[4];
        errno = 0;
        CHECK(::epoll_wait(ep.fd, out, 4, 10000) == -1);
        CHECK(errno == EINTR);
    }

    sigset_t blocked, old, during;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGUSR1);
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &blocked, &old) == 0);
    sigemptyset(&during);
    {
        DelayedSignal signal(pthread_self(), 50ms);
        epoll_event out[4];
        errno = 0;
        CHECK(::epoll_pwait(ep.fd, out, 4, 10000, &during) == -1);
        CHECK(errno == EINTR);
    }
    {
        DelayedSignal signal(pthread_self(), 50ms);
        epoll_event out[4];
        const timespec t{10, 0};
        errno = 0;
        CHECK(::epoll_pwait2(ep.fd, out, 4, &t, &during) == -1);
        CHECK(errno == EINTR);
    }
    REQUIRE(::pthread_sigmask(SIG_SETMASK, &old, nullptr) == 0);

    epoll_event out[4];
    const timespec t{0, 30000000};
    CHECK(::epoll_pwait2(ep.fd, out, 4, &t, nullptr) == 0);
    deliver(a.fd);
    CHECK(::epoll_pwait2(ep.fd, out, 4, &t, nullptr) == 1);
    CHECK(out[0].data.u64 == 1);
    errno = 0;
    CHECK(::epoll_wait(ep.fd, out, 0, 0) == -1);  // the kernel's EINVAL
    CHECK(errno == EINVAL);
}

TEST_CASE("epoll_wait: a signal that arrives while spinning interrupts the wait") {
    install_interrupting_handler();
    Epoll ep;
    Udp a(true);
    REQUIRE(ep.add(a.fd, EPOLLIN, 1) == 0);
    set_spin_us(10000000);  // the whole wait is spin: only the signal can end it early
    {
        DelayedSignal signal(pthread_self(), 50ms);
        epoll_event out[4];
        Stopwatch watch;
        errno = 0;
        CHECK(::epoll_wait(ep.fd, out, 4, 3000) == -1);
        CHECK(errno == EINTR);
        CHECK(watch.ms() < 2500);
    }
    set_spin_us(0);
}

TEST_CASE("epoll_wait asleep on kernel fds wakes for a socket another thread adds") {
    Epoll ep;
    Pair idle;
    REQUIRE(ep.add(idle.fds[1], EPOLLIN, 1) == 0);
    Udp a(true);
    deliver(a.fd);
    Later later(50ms, [&] { CHECK(ep.add(a.fd, EPOLLIN, 2) == 0); });
    CHECK(ep.wait(10000) == Events{{2, EPOLLIN}});  // and never the hidden set's cookie
}

TEST_CASE("epoll: nested sets and poll() on an epoll fd see accelerated readiness") {
    Epoll inner;
    Epoll outer;
    Udp a(true);
    REQUIRE(inner.add(a.fd, EPOLLIN, 1) == 0);
    REQUIRE(outer.add(inner.fd, EPOLLIN, 100) == 0);
    CHECK(outer.wait().empty());
    pollfd p{inner.fd, POLLIN, 0};
    CHECK(::poll(&p, 1, 0) == 0);
    deliver(a.fd);
    CHECK(outer.wait() == Events{{100, EPOLLIN}});
    CHECK(::poll(&p, 1, 0) == 1);
    CHECK(inner.wait() == Events{{1, EPOLLIN}});
}

TEST_CASE("epoll: threads waiting while another re-arms EPOLLONESHOT: each event once") {
    Epoll ep;
    Udp a(true);
    REQUIRE(ep.add(a.fd, EPOLLIN | EPOLLONESHOT, 42) == 0);
    std::atomic<int> reported{0};
    std::atomic<bool> bad_data{false};
    std::atomic<bool> stop{false};
    std::vector<std::thread> waiters;
    for (int t = 0; t < 4; ++t) {
        waiters.emplace_back([&] {
            epoll_event out[8];
            while (!stop.load()) {
                const int n = ::epoll_wait(ep.fd, out, 8, 20);
                for (int i = 0; i < n; ++i) {
                    if (out[i].data.u64 != 42) bad_data.store(true);
                    reported.fetch_add(1);
                }
            }
        });
    }
    constexpr int kRounds = 200;
    bool in_time = true;
    for (int round = 1; round <= kRounds && in_time; ++round) {
        deliver(a.fd);
        const auto until = std::chrono::steady_clock::now() + 5s;
        while (reported.load() < round && std::chrono::steady_clock::now() < until)
            std::this_thread::yield();
        in_time = reported.load() >= round;
        consume(a.fd);
        ep.mod(a.fd, EPOLLIN | EPOLLONESHOT, 42);
    }
    std::this_thread::sleep_for(50ms);
    stop.store(true);
    for (auto& t : waiters) t.join();
    CHECK(in_time);
    CHECK(reported.load() == kRounds);
    CHECK(!bad_data.load());
}

TEST_CASE("epoll: a zero-timeout wait takes in what the rings hold itself") {
    // A busy-polling loop (epoll_wait with timeout 0) drives RX once before
    // it looks: a datagram on the rings shows in that very call.
    set_spin_us(0);
    Epoll ep;
    Udp a(true);
    REQUIRE(ep.add(a.fd, EPOLLIN, 7) == 0);
    const unsigned before = poll_once_calls();
    deliver_on_poll_once(a.fd, 1);
    CHECK(ep.wait(0) == Events{{7, EPOLLIN}});
    CHECK(poll_once_calls() == before + 1);
    REQUIRE(consume(a.fd));
}
