// 10,000 UDP sockets, half of them accelerated (some before, some after they
// joined the epoll set): epoll and poll report exactly the ready subset, each
// fd once, with its own data; no fixed-size array limits either call.
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <set>
#include <vector>

#include "fake_fast_path.h"
#include "readiness_test_support.h"

using namespace xlane::test;

TEST_CASE("10,000 sockets, half accelerated: epoll and poll find exactly the ready ones") {
    constexpr int kSockets = 10000;
    // Sockets + eventfds + the epoll set and its hidden sub-set.
    rlimit limit{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &limit) == 0);
    INFO("RLIMIT_NOFILE hard limit " << limit.rlim_max << " must allow 2 x " << kSockets);
    REQUIRE(limit.rlim_max >= static_cast<rlim_t>(kSockets * 3 / 2 + 100));
    limit.rlim_cur = limit.rlim_max;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &limit) == 0);

    std::vector<int> fds(kSockets);
    std::vector<uint16_t> ports(kSockets, 0);
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    REQUIRE(ep >= 0);
    for (int i = 0; i < kSockets; ++i) {
        fds[i] = udp_socket(AF_INET);
        if (i % 4 == 0) accelerate(fds[i]);  // accelerated, then registered
        if (i % 2 == 1) ports[i] = bind_loopback(fds[i]);
        epoll_event e{};
        e.events = EPOLLIN;
        e.data.u64 = static_cast<uint64_t>(i);
        REQUIRE(::epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e) == 0);
    }
    for (int i = 2; i < kSockets; i += 4) accelerate(fds[i]);  // registered, then accelerated

    std::set<uint64_t> expected;
    for (int i = 0; i < kSockets; i += 14) {  // accelerated ones (even)
        deliver(fds[i]);
        expected.insert(static_cast<uint64_t>(i));
    }
    for (int i = 1; i < kSockets; i += 22) {  // kernel ones (odd)
        send_loopback(ports[i]);
        expected.insert(static_cast<uint64_t>(i));
    }

    std::vector<epoll_event> out(kSockets);
    std::set<uint64_t> got;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int n = 0;
    while (got.size() < expected.size() && std::chrono::steady_clock::now() < until) {
        n = ::epoll_wait(ep, out.data(), kSockets, 100);
        REQUIRE(n >= 0);
        got.clear();
        for (int i = 0; i < n; ++i) {
            CHECK(out[i].events == EPOLLIN);
            CHECK(got.insert(out[i].data.u64).second);  // one event per fd
        }
    }
    CHECK(got == expected);
    CHECK(static_cast<size_t>(n) == expected.size());

    std::vector<pollfd> polled(kSockets);
    for (int i = 0; i < kSockets; ++i) polled[i] = pollfd{fds[i], POLLIN, 0};
    CHECK(::poll(polled.data(), polled.size(), 1000) == static_cast<int>(expected.size()));
    std::set<uint64_t> readable;
    for (int i = 0; i < kSockets; ++i) {
        if (polled[i].revents != 0) {
            CHECK(polled[i].revents == POLLIN);
            readable.insert(static_cast<uint64_t>(i));
        }
    }
    CHECK(readable == expected);

    // The same through ppoll, asking for POLLOUT too: every socket is writable.
    for (int i = 0; i < kSockets; ++i) polled[i] = pollfd{fds[i], POLLIN | POLLOUT, 0};
    const timespec zero{0, 0};
    CHECK(::ppoll(polled.data(), polled.size(), &zero, nullptr) == kSockets);
    for (int i = 0; i < kSockets; ++i) {
        const short want =
            expected.count(static_cast<uint64_t>(i)) != 0 ? (POLLIN | POLLOUT) : POLLOUT;
        if (polled[i].revents != want) FAIL("fd index " << i << " revents " << polled[i].revents);
    }

    for (int fd : fds) close_socket(fd);
    close_fd(ep);
}
