// Helpers shared by the readiness tests: loopback UDP in the test's private
// network namespace, elapsed time, and a signal sent to a waiting thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>

#include "../../support/signal_threads.h"

namespace xlane::test {

// Binds `fd` to 127.0.0.1 (of the test's own network namespace), port chosen
// by the kernel; returns the port.
inline uint16_t bind_loopback(int fd) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        throw std::runtime_error("bind: " + std::to_string(errno));
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    return ntohs(addr.sin_port);
}

// One datagram to 127.0.0.1:port through the kernel.
inline void send_loopback(uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    const ssize_t sent = ::sendto(fd, "x", 1, 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::close(fd);
    if (sent != 1) throw std::runtime_error("sendto: " + std::to_string(errno));
}

class Stopwatch {
  public:
    [[nodiscard]] long long ms() const {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - start_)
            .count();
    }

  private:
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// SIGUSR1 with a handler that does nothing and no SA_RESTART: a blocking
// call it interrupts fails with EINTR.
inline void install_interrupting_handler() {
    struct sigaction action {};
    action.sa_handler = [](int) {};
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;
    ::sigaction(SIGUSR1, &action, nullptr);
}

// A datagram socket pair; fds[1] becomes readable by make_readable().
struct Pair {
    int fds[2]{-1, -1};
    Pair() {
        if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds) != 0)
            throw std::runtime_error("socketpair: " + std::to_string(errno));
    }
    ~Pair() {
        ::close(fds[0]);
        ::close(fds[1]);
    }
    Pair(const Pair&) = delete;
    Pair& operator=(const Pair&) = delete;
    void make_readable() const {
        if (::write(fds[0], "x", 1) != 1)
            throw std::runtime_error("write: " + std::to_string(errno));
    }
};

}  // namespace xlane::test
