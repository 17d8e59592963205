// Receives on sockets the kernel serves, as libxlane.so's XLANE_SPIN_KERNEL
// must leave them: same results and errno as without the library (EINTR and
// SA_RESTART, SO_RCVTIMEO, non-blocking sockets, MSG_DONTWAIT), over UDP and
// TCP on 127.0.0.1. Prints "ok NAME" per check, and "slept: yes|no" lines
// saying whether a receive that waited for late data slept in the kernel
// (from the thread's voluntary context switches): kernel_spin.sh compares
// both with and without the library.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "../../support/signal_threads.h"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

using xlane::test::DelayedSignal;
using xlane::test::Later;

namespace {

int g_failures = 0;

void check(bool ok, const char* name, const char* detail = "") {
    if (ok) {
        std::printf("ok %s\n", name);
    } else {
        std::printf("FAIL %s %s (errno %d)\n", name, detail, errno);
        ++g_failures;
    }
    std::fflush(stdout);
}

// This thread's context switches so far: sleeps in the kernel (voluntary),
// and times another thread took its CPU (involuntary, a yield included).
struct Switches {
    long voluntary = 0;
    long involuntary = 0;
    static Switches now() {
        rusage usage{};
        ::getrusage(RUSAGE_THREAD, &usage);
        return {usage.ru_nvcsw, usage.ru_nivcsw};
    }
};

// "no": the wait never slept. "yes, after giving way": it slept once other
// threads had taken its CPU three times or more (a spin ends in a sleep when
// its CPU stays wanted: SpinYield in libxlane.so; a loaded host does that).
// "yes": it slept otherwise.
const char* slept_since(const Switches& before) {
    const Switches after = Switches::now();
    if (after.voluntary == before.voluntary) return "no";
    return after.involuntary - before.involuntary >= 3 ? "yes, after giving way" : "yes";
}

long long elapsed_ms(Clock::time_point since) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

sockaddr_in loopback(uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    return addr;
}

uint16_t port_of(int fd) {
    sockaddr_in addr{};
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    return ntohs(addr.sin_port);
}

// A bound UDP receiver and a sender connected to it.
struct UdpPair {
    int receiver = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int sender = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    UdpPair() {
        sockaddr_in any = loopback(0);
        if (::bind(receiver, reinterpret_cast<sockaddr*>(&any), sizeof(any)) != 0) std::abort();
        sockaddr_in to = loopback(port_of(receiver));
        if (::connect(sender, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) std::abort();
    }
    ~UdpPair() {
        ::close(receiver);
        ::close(sender);
    }
    void send() const {
        if (::send(sender, "x", 1, 0) != 1) std::abort();
    }
};

// A connected TCP pair over 127.0.0.1.
struct TcpPair {
    int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int server = -1;
    TcpPair() {
        const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in any = loopback(0);
        if (::bind(listener, reinterpret_cast<sockaddr*>(&any), sizeof(any)) != 0 ||
            ::listen(listener, 1) != 0)
            std::abort();
        sockaddr_in to = loopback(port_of(listener));
        if (::connect(client, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) std::abort();
        server = ::accept(listener, nullptr, nullptr);
        ::close(listener);
        if (server < 0) std::abort();
    }
    ~TcpPair() {
        ::close(client);
        ::close(server);
    }
};

std::atomic<int> g_handled{0};

void handle_usr1(int flags) {
    struct sigaction action {};
    action.sa_handler = [](int) { g_handled.fetch_add(1); };
    sigemptyset(&action.sa_mask);
    action.sa_flags = flags;
    ::sigaction(SIGUSR1, &action, nullptr);
}

void late_data() {
    {
        UdpPair udp;
        char byte = 0;
        const Switches before = Switches::now();
        Later sender(40ms, [&] { udp.send(); });
        check(::recv(udp.receiver, &byte, 1, 0) == 1, "udp recv of a late datagram");
        std::printf("slept: %s\n", slept_since(before));
    }
    {
        TcpPair tcp;
        char byte = 0;
        const Switches before = Switches::now();
        Later writer(40ms, [&] {
            if (::write(tcp.client, "y", 1) != 1) std::abort();
        });
        check(::read(tcp.server, &byte, 1) == 1 && byte == 'y', "tcp read of late bytes");
        std::printf("slept: %s\n", slept_since(before));
    }
}

void signals_during_the_wait() {
    UdpPair udp;
    char byte = 0;
    handle_usr1(0);
    {
        DelayedSignal signals(::pthread_self(), 30ms);
        errno = 0;
        check(::recv(udp.receiver, &byte, 1, 0) == -1 && errno == EINTR,
              "udp recv interrupted by a handler without SA_RESTART: EINTR");
    }
    handle_usr1(SA_RESTART);
    {
        g_handled.store(0);
        Later sender(200ms, [&] { udp.send(); });
        DelayedSignal signals(::pthread_self(), 20ms);
        check(::recvfrom(udp.receiver, &byte, 1, 0, nullptr, nullptr) == 1 && g_handled.load() > 0,
              "udp recvfrom restarted after SA_RESTART handlers, then the datagram");
    }
    {
        const timeval timeout{5, 0};
        ::setsockopt(udp.receiver, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
        DelayedSignal signals(::pthread_self(), 30ms);
        errno = 0;
        check(::recv(udp.receiver, &byte, 1, 0) == -1 && errno == EINTR,
              "udp recv with SO_RCVTIMEO: EINTR even after an SA_RESTART handler");
    }
    signal(SIGUSR1, SIG_IGN);
}

void calls_that_do_not_wait() {
    UdpPair udp;
    char byte = 0;
    auto start = Clock::now();
    errno = 0;
    check(::recv(udp.receiver, &byte, 1, MSG_DONTWAIT) == -1 && errno == EAGAIN &&
              elapsed_ms(start) < 1000,
          "udp recv MSG_DONTWAIT with nothing queued: EAGAIN at once");
    ::fcntl(udp.receiver, F_SETFL, ::fcntl(udp.receiver, F_GETFL) | O_NONBLOCK);
    start = Clock::now();
    errno = 0;
    check(::read(udp.receiver, &byte, 1) == -1 && errno == EAGAIN && elapsed_ms(start) < 1000,
          "read on a non-blocking socket with nothing queued: EAGAIN at once");
    ::fcntl(udp.receiver, F_SETFL, ::fcntl(udp.receiver, F_GETFL) & ~O_NONBLOCK);
    const timeval timeout{0, 200'000};
    ::setsockopt(udp.receiver, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    start = Clock::now();
    errno = 0;
    const ssize_t got = ::recv(udp.receiver, &byte, 1, 0);
    const long long took = elapsed_ms(start);
    check(got == -1 && errno == EAGAIN && took >= 190 && took < 2000,
          "udp recv with SO_RCVTIMEO 200 ms: EAGAIN after the timeout, not much later");
    udp.send();
    check(::recv(udp.receiver, &byte, 1, 0) == 1, "udp recv of a queued datagram");
}

}  // namespace

int main() {
    late_data();
    signals_during_the_wait();
    calls_that_do_not_wait();
    return g_failures == 0 ? 0 : 1;
}
