// The poll hit/miss counters (fast_path.h, fast_socket_polled): a call that
// reports an accelerated fd ready without sleeping is a hit; a poll/select
// that slept before reporting it, or returned without it, is a miss; an
// epoll_wait counts the sockets it reports, a miss when it slept first.
#include <poll.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "fake_fast_path.h"
#include "readiness_test_support.h"

using namespace std::chrono_literals;
using namespace xlane::test;

namespace {

struct AcceleratedUdp {
    int fd = udp_socket(AF_INET);
    AcceleratedUdp() { accelerate(fd); }
    ~AcceleratedUdp() { close_socket(fd); }
};

// The state letter of thread `tid` of this process ('S': asleep in a wait).
char thread_state(pid_t tid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/task/%d/stat", static_cast<int>(tid));
    FILE* file = std::fopen(path, "r");
    if (file == nullptr) return '?';
    char line[512] = {};
    const bool read = std::fgets(line, sizeof line, file) != nullptr;
    std::fclose(file);
    const char* end_of_comm = read ? std::strrchr(line, ')') : nullptr;
    return end_of_comm != nullptr && end_of_comm[1] == ' ' ? end_of_comm[2] : '?';
}

// Delivers one datagram to `fd` from another thread once the calling thread
// sleeps in the kernel (so the wait is known to have slept, however loaded
// the machine), or after 10 s.
class LateDelivery {
  public:
    explicit LateDelivery(int fd)
        : thread_([fd, waiter = static_cast<pid_t>(::gettid())] {
              const auto give_up = std::chrono::steady_clock::now() + 10s;
              while (thread_state(waiter) != 'S' && std::chrono::steady_clock::now() < give_up)
                  std::this_thread::sleep_for(1ms);
              std::this_thread::sleep_for(5ms);
              deliver(fd);
          }) {}
    ~LateDelivery() { thread_.join(); }

  private:
    std::thread thread_;
};

}  // namespace

TEST_CASE("poll hits and misses: ready at once, nothing, ready after a sleep") {
    AcceleratedUdp a;
    int kernel_pipe[2];
    REQUIRE(::pipe(kernel_pipe) == 0);
    reset_poll_counts();

    pollfd p{a.fd, POLLIN, 0};
    CHECK(::poll(&p, 1, 0) == 0);  // nothing waits: a miss
    CHECK(poll_hits(a.fd) == 0);
    CHECK(poll_misses(a.fd) == 1);

    deliver(a.fd);
    CHECK(::poll(&p, 1, 1000) == 1);  // ready at the first look: a hit
    CHECK(poll_hits(a.fd) == 1);
    CHECK(poll_misses(a.fd) == 1);
    REQUIRE(consume(a.fd));

    {
        LateDelivery late(a.fd);
        CHECK(::poll(&p, 1, 5000) == 1);  // slept until the datagram came: a miss
    }
    CHECK(poll_hits(a.fd) == 1);
    CHECK(poll_misses(a.fd) == 2);
    REQUIRE(consume(a.fd));

    // Another fd ready, ours not: a miss for ours; the kernel fd counts nothing.
    REQUIRE(::write(kernel_pipe[1], "x", 1) == 1);
    pollfd both[2] = {{a.fd, POLLIN, 0}, {kernel_pipe[0], POLLIN, 0}};
    CHECK(::poll(both, 2, 1000) == 1);
    CHECK(poll_hits(a.fd) == 1);
    CHECK(poll_misses(a.fd) == 3);
    CHECK(poll_hits(kernel_pipe[0]) == 0);
    CHECK(poll_misses(kernel_pipe[0]) == 0);
    ::close(kernel_pipe[0]);
    ::close(kernel_pipe[1]);
}

TEST_CASE("poll hits: found ready while spinning, before any sleep") {
    AcceleratedUdp a;
    reset_poll_counts();
    set_spin_us(2'000'000);
    deliver_on_poll_once(a.fd, 3);
    pollfd p{a.fd, POLLIN, 0};
    CHECK(::poll(&p, 1, 5000) == 1);
    set_spin_us(0);
    CHECK(poll_hits(a.fd) == 1);
    CHECK(poll_misses(a.fd) == 0);
}

TEST_CASE("select counts like poll") {
    AcceleratedUdp a;
    reset_poll_counts();
    fd_set read_set;
    FD_ZERO(&read_set);
    FD_SET(a.fd, &read_set);
    timeval zero{0, 0};
    CHECK(::select(a.fd + 1, &read_set, nullptr, nullptr, &zero) == 0);
    CHECK(poll_misses(a.fd) == 1);
    deliver(a.fd);
    FD_SET(a.fd, &read_set);
    zero = {0, 0};
    CHECK(::select(a.fd + 1, &read_set, nullptr, nullptr, &zero) == 1);
    CHECK(poll_hits(a.fd) == 1);
    CHECK(poll_misses(a.fd) == 1);
}

TEST_CASE("epoll_wait counts the sockets it reports: a hit without sleep, a miss after one") {
    AcceleratedUdp a;
    AcceleratedUdp idle;
    const int epfd = ::epoll_create1(EPOLL_CLOEXEC);
    REQUIRE(epfd >= 0);
    for (int fd : {a.fd, idle.fd}) {
        epoll_event event{EPOLLIN, {}};
        event.data.fd = fd;
        REQUIRE(::epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event) == 0);
    }
    reset_poll_counts();
    epoll_event out[4];

    CHECK(::epoll_wait(epfd, out, 4, 0) == 0);  // nothing reported: nothing counted
    CHECK(poll_hits(a.fd) + poll_misses(a.fd) == 0);

    deliver(a.fd);
    REQUIRE(::epoll_wait(epfd, out, 4, 1000) == 1);
    CHECK(out[0].data.fd == a.fd);
    CHECK(poll_hits(a.fd) == 1);
    CHECK(poll_misses(a.fd) == 0);
    REQUIRE(consume(a.fd));

    {
        LateDelivery late(a.fd);
        REQUIRE(::epoll_wait(epfd, out, 4, 5000) == 1);
    }
    CHECK(poll_hits(a.fd) == 1);
    CHECK(poll_misses(a.fd) == 1);
    CHECK(poll_hits(idle.fd) + poll_misses(idle.fd) == 0);
    REQUIRE(consume(a.fd));
    close_fd(epfd);
}
