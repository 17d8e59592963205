// An ordinary UDP program (it knows nothing of xlane) that checks readiness
// semantics: poll, ppoll, select, epoll (LT, ET, ONESHOT, MOD, DEL, one event
// per fd, data intact, EINTR, timeouts, many sockets, close). readiness.sh
// runs it under LD_PRELOAD=libxlane.so with xlane attached, so its connected
// UDP sockets are accelerated, and once more without, as the reference.
//   readiness_probe echo              kernel echo server on 198.18.0.2:7500
//   readiness_probe client CASE...    runs the named cases against it
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../../support/probe_expect.h"

namespace {

constexpr uint16_t kPort = 7500;
constexpr const char* kServer = "198.18.0.2";
constexpr int kWaitMs = 3000;


sockaddr_in server_address() {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(kPort);
    inet_pton(AF_INET, kServer, &in.sin_addr);
    return in;
}

long long now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// A UDP socket connected to the echo server (connect is where xlane decides).
int connected() {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const sockaddr_in server = server_address();
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&server), sizeof server) != 0) {
        std::perror("connect");
        ++g_failures;
    }
    return fd;
}

void ping(int fd) {
    EXPECT(::send(fd, "x", 1, 0) == 1);
}

// Reads every waiting datagram; returns how many.
int drain(int fd) {
    char buf[64];
    int n = 0;
    while (::recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) ++n;
    return n;
}

using Events = std::map<uint64_t, uint32_t>;

// One epoll_wait; a second event for the same data is a failure.
Events wait_events(int ep, int timeout_ms, int max = 512) {
    std::vector<epoll_event> out(static_cast<size_t>(max));
    const int n = ::epoll_wait(ep, out.data(), max, timeout_ms);
    EXPECT(n >= 0);
    Events got;
    for (int i = 0; i < n; ++i) {
        EXPECT(got.count(out[i].data.u64) == 0);
        got[out[i].data.u64] = out[i].events;
    }
    return got;
}

int add(int ep, int fd, uint32_t events, uint64_t data, int op = EPOLL_CTL_ADD) {
    epoll_event e{};
    e.events = events;
    e.data.u64 = data;
    return ::epoll_ctl(ep, op, fd, &e);
}

// ---- cases ----

void case_poll() {
    const int s = connected();
    int pipe_fds[2];
    EXPECT(::pipe(pipe_fds) == 0);
    pollfd f[2] = {{s, POLLIN | POLLOUT, 0}, {pipe_fds[0], POLLIN, 0}};
    EXPECT(::poll(f, 2, 0) == 1);
    EXPECT(f[0].revents == POLLOUT);
    EXPECT(f[1].revents == 0);

    ping(s);
    pollfd in{s, POLLIN, 0};
    EXPECT(::poll(&in, 1, kWaitMs) == 1);
    EXPECT(in.revents == POLLIN);
    EXPECT(::poll(f, 2, 0) == 1);
    EXPECT(f[0].revents == (POLLIN | POLLOUT));
    EXPECT(drain(s) == 1);

    const long long start = now_ms();
    EXPECT(::poll(&in, 1, 200) == 0);
    EXPECT(now_ms() - start >= 200);

    EXPECT(::write(pipe_fds[1], "p", 1) == 1);
    f[0].events = POLLIN;
    EXPECT(::poll(f, 2, kWaitMs) == 1);
    EXPECT(f[0].revents == 0);
    EXPECT(f[1].revents == POLLIN);

    ping(s);
    const timespec t{3, 0};
    in.revents = 0;
    EXPECT(::ppoll(&in, 1, &t, nullptr) == 1);
    EXPECT(in.revents == POLLIN);
    EXPECT(drain(s) == 1);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    ::close(s);
}

void case_select() {
    const int s = connected();
    fd_set r, w;
    ping(s);
    FD_ZERO(&r);
    FD_SET(s, &r);
    timeval tv{3, 0};
    EXPECT(::select(s + 1, &r, nullptr, nullptr, &tv) == 1);
    EXPECT(FD_ISSET(s, &r));
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(s, &r);
    FD_SET(s, &w);
    tv = timeval{0, 0};
    EXPECT(::select(s + 1, &r, &w, nullptr, &tv) == 2);
    EXPECT(drain(s) == 1);

    FD_ZERO(&r);
    FD_SET(s, &r);
    tv = timeval{0, 200000};
    const long long start = now_ms();
    EXPECT(::select(s + 1, &r, nullptr, nullptr, &tv) == 0);
    EXPECT(now_ms() - start >= 200);
    EXPECT(tv.tv_sec == 0 && tv.tv_usec == 0);
    EXPECT(!FD_ISSET(s, &r));
    ::close(s);
}

void case_epoll() {
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    // Registered before connect, i.e. before xlane accelerates it.
    const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    EXPECT(add(ep, s, EPOLLIN | EPOLLOUT, 0xabc) == 0);
    const sockaddr_in server = server_address();
    EXPECT(::connect(s, reinterpret_cast<const sockaddr*>(&server), sizeof server) == 0);
    EXPECT((wait_events(ep, 0) == Events{{0xabc, EPOLLOUT}}));

    // Level-triggered: one event per fd carrying EPOLLIN and EPOLLOUT.
    ping(s);
    EXPECT(add(ep, s, EPOLLIN, 0xabc, EPOLL_CTL_MOD) == 0);
    EXPECT((wait_events(ep, kWaitMs) == Events{{0xabc, EPOLLIN}}));
    EXPECT(add(ep, s, EPOLLIN | EPOLLOUT, 0xabc, EPOLL_CTL_MOD) == 0);
    EXPECT((wait_events(ep, 0) == Events{{0xabc, EPOLLIN | EPOLLOUT}}));
    EXPECT((wait_events(ep, 0) == Events{{0xabc, EPOLLIN | EPOLLOUT}}));
    EXPECT(drain(s) == 1);
    EXPECT((wait_events(ep, 0) == Events{{0xabc, EPOLLOUT}}));

    // Edge-triggered.
    EXPECT(add(ep, s, EPOLLIN | EPOLLET, 0xe7, EPOLL_CTL_MOD) == 0);
    EXPECT(wait_events(ep, 0).empty());
    ping(s);
    EXPECT((wait_events(ep, kWaitMs) == Events{{0xe7, EPOLLIN}}));
    EXPECT(wait_events(ep, 200).empty());
    EXPECT(drain(s) == 1);
    ping(s);
    EXPECT((wait_events(ep, kWaitMs) == Events{{0xe7, EPOLLIN}}));
    EXPECT(drain(s) == 1);

    // One-shot: one report until EPOLL_CTL_MOD re-arms it.
    EXPECT(add(ep, s, EPOLLIN | EPOLLONESHOT, 0x15, EPOLL_CTL_MOD) == 0);
    ping(s);
    EXPECT((wait_events(ep, kWaitMs) == Events{{0x15, EPOLLIN}}));
    ping(s);
    EXPECT(wait_events(ep, 300).empty());
    EXPECT(add(ep, s, EPOLLIN | EPOLLONESHOT, 0x16, EPOLL_CTL_MOD) == 0);
    EXPECT((wait_events(ep, kWaitMs) == Events{{0x16, EPOLLIN}}));
    EXPECT(drain(s) == 2);

    // Delete: nothing more, whatever arrives; the kernel's errors after it.
    EXPECT(::epoll_ctl(ep, EPOLL_CTL_DEL, s, nullptr) == 0);
    ping(s);
    EXPECT(wait_events(ep, 300).empty());
    errno = 0;
    EXPECT(::epoll_ctl(ep, EPOLL_CTL_DEL, s, nullptr) == -1 && errno == ENOENT);
    errno = 0;
    EXPECT(add(ep, s, EPOLLIN, 1, EPOLL_CTL_MOD) == -1 && errno == ENOENT);
    EXPECT(add(ep, s, EPOLLIN, 1) == 0);
    errno = 0;
    EXPECT(add(ep, s, EPOLLIN, 1) == -1 && errno == EEXIST);
    EXPECT((wait_events(ep, kWaitMs) == Events{{1, EPOLLIN}}));
    EXPECT(drain(s) == 1);
    ::close(s);
    ::close(ep);
}

void case_eintr() {
    struct sigaction action {};
    action.sa_handler = [](int) {};
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGUSR1, &action, nullptr);  // no SA_RESTART
    const int s = connected();
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    EXPECT(add(ep, s, EPOLLIN, 1) == 0);
    const pthread_t self = ::pthread_self();
    for (int round = 0; round < 2; ++round) {
        // Every 100 ms until the call returns: one that comes before the
        // call only runs the handler (load-proof).
        std::atomic<bool> done{false};
        std::thread killer([self, &done] {
            while (!done.load()) {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                if (!done.load()) ::pthread_kill(self, SIGUSR1);
            }
        });
        errno = 0;
        if (round == 0) {
            epoll_event out[4];
            EXPECT(::epoll_wait(ep, out, 4, -1) == -1 && errno == EINTR);
        } else {
            pollfd p{s, POLLIN, 0};
            EXPECT(::poll(&p, 1, -1) == -1 && errno == EINTR);
        }
        done.store(true);
        killer.join();
    }
    ::close(ep);
    ::close(s);
}

// `sockets` connected UDP sockets (accelerated under the library: each is a
// steering flow plus an eventfd) in one epoll set and one poll array; every
// 7th gets a reply, and exactly those are reported.
void many_sockets(int kSockets) {
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    std::vector<int> fds;
    for (int i = 0; i < kSockets; ++i) {
        fds.push_back(connected());
        EXPECT(add(ep, fds.back(), EPOLLIN, static_cast<uint64_t>(i)) == 0);
    }
    std::set<uint64_t> expected;
    for (int i = 0; i < kSockets; i += 7) {
        ping(fds[i]);
        expected.insert(static_cast<uint64_t>(i));
    }
    std::set<uint64_t> got;
    const long long until = now_ms() + kWaitMs;
    while (got.size() < expected.size() && now_ms() < until) {
        got.clear();
        for (const auto& [data, events] : wait_events(ep, 100, kSockets)) {
            EXPECT(events == EPOLLIN);
            got.insert(data);
        }
    }
    EXPECT(got == expected);
    std::vector<pollfd> polled;
    for (int fd : fds) polled.push_back(pollfd{fd, POLLIN, 0});
    EXPECT(::poll(polled.data(), polled.size(), 0) == static_cast<int>(expected.size()));
    for (int i = 0; i < kSockets; ++i)
        EXPECT((polled[i].revents != 0) == (expected.count(static_cast<uint64_t>(i)) != 0));
    for (int fd : fds) ::close(fd);
    ::close(ep);
}

void case_many() { many_sockets(300); }

// The "no limit on the number of fds": one epoll set and one poll
// array of 10,000 descriptors, half accelerated UDP sockets (each also holds
// an eventfd and a steering flow) and half kernel eventfds. The hard
// RLIMIT_NOFILE here is 20,000 without CAP_SYS_RESOURCE, which is why not all
// 10,000 are accelerated sockets.
void case_many10k() {
    constexpr int kAccelerated = 5000, kKernel = 5000;
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur < 2 * kAccelerated + kKernel + 64) {
        std::fprintf(stderr, "RLIMIT_NOFILE hard limit %llu is too low for 10,000 fds\n",
                     static_cast<unsigned long long>(limit.rlim_max));
        ++g_failures;
        return;
    }
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    std::vector<int> fds;  // [0, kAccelerated): UDP sockets; then eventfds
    for (int i = 0; i < kAccelerated + kKernel; ++i) {
        const int fd = i < kAccelerated ? connected() : ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        EXPECT(fd >= 0);
        if (fd < 0) break;
        fds.push_back(fd);
        EXPECT(add(ep, fd, EPOLLIN, static_cast<uint64_t>(i)) == 0);
    }
    std::set<uint64_t> expected;
    for (int i = 0; i < static_cast<int>(fds.size()); i += 7) {
        if (i < kAccelerated) {
            // One at a time: the echo's kernel socket buffer would drop a
            // burst of 700 datagrams, with or without xlane.
            ping(fds[i]);
            pollfd reply{fds[i], POLLIN, 0};
            EXPECT(::poll(&reply, 1, kWaitMs) == 1);
        } else {
            const uint64_t one = 1;
            EXPECT(::write(fds[i], &one, sizeof(one)) == sizeof(one));
        }
        expected.insert(static_cast<uint64_t>(i));
    }
    std::set<uint64_t> got;
    const long long until = now_ms() + 4 * kWaitMs;
    while (got.size() < expected.size() && now_ms() < until) {
        got.clear();
        for (const auto& [data, events] : wait_events(ep, 100, static_cast<int>(fds.size()))) {
            EXPECT(events == EPOLLIN);
            got.insert(data);
        }
    }
    EXPECT(got == expected);
    std::vector<pollfd> polled;
    for (int fd : fds) polled.push_back(pollfd{fd, POLLIN, 0});
    EXPECT(::poll(polled.data(), polled.size(), 0) == static_cast<int>(expected.size()));
    for (size_t i = 0; i < polled.size(); ++i)
        EXPECT((polled[i].revents != 0) == (expected.count(static_cast<uint64_t>(i)) != 0));
    for (int fd : fds) ::close(fd);
    ::close(ep);
}

void case_close() {
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    const int s = connected();
    EXPECT(add(ep, s, EPOLLIN, 1) == 0);
    ping(s);
    EXPECT((wait_events(ep, kWaitMs) == Events{{1, EPOLLIN}}));
    ::close(s);  // unread datagram and all
    EXPECT(wait_events(ep, 0).empty());
    const int s2 = connected();  // most likely the same number
    ping(s2);
    pollfd p{s2, POLLIN, 0};
    EXPECT(::poll(&p, 1, kWaitMs) == 1);
    EXPECT(wait_events(ep, 100).empty());  // never the old registration's data
    EXPECT(add(ep, s2, EPOLLIN, 2) == 0);
    EXPECT((wait_events(ep, 0) == Events{{2, EPOLLIN}}));
    ::close(s2);
    ::close(ep);
}

// Waiting threads and an epoll_ctl re-arming EPOLLONESHOT: each datagram is
// reported to exactly one of them.
void case_threads() {
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    const int s = connected();
    EXPECT(add(ep, s, EPOLLIN | EPOLLONESHOT, 42) == 0);
    std::atomic<int> reported{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> waiters;
    for (int t = 0; t < 3; ++t) {
        waiters.emplace_back([&] {
            epoll_event out[8];
            while (!stop.load()) {
                const int n = ::epoll_wait(ep, out, 8, 20);
                for (int i = 0; i < n; ++i) {
                    if (out[i].data.u64 == 42) reported.fetch_add(1);
                }
            }
        });
    }
    constexpr int kRounds = 50;
    for (int round = 1; round <= kRounds; ++round) {
        ping(s);
        const long long until = now_ms() + kWaitMs;
        while (reported.load() < round && now_ms() < until) std::this_thread::yield();
        if (reported.load() < round) break;
        EXPECT(drain(s) == 1);
        EXPECT(add(ep, s, EPOLLIN | EPOLLONESHOT, 42, EPOLL_CTL_MOD) == 0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stop.store(true);
    for (auto& t : waiters) t.join();
    EXPECT(reported.load() == kRounds);
    ::close(s);
    ::close(ep);
}

int echo() {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const sockaddr_in local = server_address();
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
        std::perror("bind");
        return 1;
    }
    std::printf("ready\n");
    std::fflush(stdout);
    char buf[2048];
    for (;;) {
        sockaddr_storage peer{};
        socklen_t len = sizeof peer;
        const ssize_t n =
            ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &len);
        if (n < 0) continue;
        if (n == 4 && std::memcmp(buf, "quit", 4) == 0) return 0;
        ::sendto(fd, buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&peer), len);
    }
}

}  // namespace

int main(int argc, char* argv[]) {
    if (argc >= 2 && std::string(argv[1]) == "echo") return echo();
    if (argc >= 3 && std::string(argv[1]) == "client" && std::string(argv[2]) == "quit") {
        const int s = connected();
        ::send(s, "quit", 4, 0);
        return 0;
    }
    if (argc < 3 || std::string(argv[1]) != "client") {
        std::fprintf(stderr, "usage: %s echo | client CASE...\n", argv[0]);
        return 2;
    }
    const std::map<std::string, void (*)()> cases = {
        {"poll", case_poll},      {"select", case_select}, {"epoll", case_epoll},
        {"eintr", case_eintr},    {"many", case_many},
        {"many10k", case_many10k},     {"close", case_close},
        {"threads", case_threads}};
    for (int i = 2; i < argc; ++i) {
        const auto it = cases.find(argv[i]);
        if (it == cases.end()) {
            std::fprintf(stderr, "unknown case %s\n", argv[i]);
            return 2;
        }
        const int before = g_failures;
        it->second();
        std::printf("%s %s\n", argv[i], g_failures == before ? "ok" : "FAILED");
    }
    return g_failures == 0 ? 0 : 1;
}
