// An ordinary UDP program that sockets_sockperf.sh runs preloaded on host B
// (198.18.0.2) to make the counters `xlane stats` shows move for certain:
//   - a "sink" socket (port SINK) with a small SO_RCVBUF that never reads,
//     so that a burst from host A overflows its queue (rx_drops);
//   - a "poller" socket (port POLLER) read through poll() and epoll_wait():
//     one poll finds nothing (a miss), then, once the whole burst waits, each
//     poll and epoll_wait finds it ready at once (hits);
//   - one datagram from the poller to 198.18.0.77, an address of the test's
//     own veth subnet that no host answers ARP for: lost (tx_drops).
// Prints "ready" once both sockets are bound, "polled N" after reading the N
// datagrams it was told to expect, then waits for SIGTERM.
//   counters_probe SINK_PORT POLLER_PORT EXPECTED
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../../support/probe_expect.h"

namespace {

sockaddr_in address(const char* text, uint16_t port) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    inet_pton(AF_INET, text, &in.sin_addr);
    return in;
}

int bound_socket(uint16_t port, int rcvbuf) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    EXPECT(fd >= 0);
    if (rcvbuf > 0) EXPECT(::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) == 0);
    const sockaddr_in local = address("198.18.0.2", port);
    EXPECT(::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) == 0);
    return fd;
}

bool read_one(int fd) {
    char buffer[2048];
    return ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT) >= 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: counters_probe SINK_PORT POLLER_PORT EXPECTED\n");
        return 2;
    }
    const auto sink_port = static_cast<uint16_t>(std::atoi(argv[1]));
    const auto poller_port = static_cast<uint16_t>(std::atoi(argv[2]));
    const int expected = std::atoi(argv[3]);
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    EXPECT(sigprocmask(SIG_BLOCK, &term, nullptr) == 0);

    const int sink = bound_socket(sink_port, 2048);  // the kernel's minimum budget
    const int poller = bound_socket(poller_port, 0);
    pollfd p{poller, POLLIN, 0};
    EXPECT(::poll(&p, 1, 0) == 0);  // nothing sent yet: a miss
    std::printf("ready\n");
    std::fflush(stdout);

    // The first datagram (hit or miss, as the timing falls), then a pause
    // long enough for the rest of the burst to arrive: every later look is a hit.
    EXPECT(::poll(&p, 1, 10000) == 1);
    EXPECT(read_one(poller));
    ::usleep(500 * 1000);
    int got = 1;
    const int epfd = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event event{EPOLLIN, {}};
    event.data.fd = poller;
    EXPECT(::epoll_ctl(epfd, EPOLL_CTL_ADD, poller, &event) == 0);
    while (got < expected) {
        // Alternately poll and epoll_wait, each with a datagram waiting.
        if (got % 2 == 0) {
            p.revents = 0;
            if (::poll(&p, 1, 0) != 1) break;
        } else {
            epoll_event out{};
            if (::epoll_wait(epfd, &out, 1, 0) != 1) break;
        }
        if (!read_one(poller)) break;
        ++got;
    }
    EXPECT(got == expected);

    const sockaddr_in nobody = address("198.18.0.77", 9);
    EXPECT(::sendto(poller, "lost", 4, 0, reinterpret_cast<const sockaddr*>(&nobody), sizeof nobody) == 4);
    std::printf("polled %d\n", got);
    std::fflush(stdout);

    int signal = 0;
    sigwait(&term, &signal);
    ::close(epfd);
    ::close(sink);
    ::close(poller);
    return g_failures == 0 ? 0 : 1;
}
