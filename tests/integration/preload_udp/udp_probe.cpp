// An ordinary UDP program (it knows nothing of xlane) that preload_udp.sh
// runs under LD_PRELOAD=libxlane.so on two hosts:
//   udp_probe server               echo server on 198.18.0.2 / fd00:198:18::2
//   udp_probe client CASE...       runs the named cases against it
//   udp_probe burst PORT N HOW     N datagrams, then _exit/_Exit/execl/execlp
// Every case checks what Linux's UDP gives (sizes 1..65507 both families,
// MSG_PEEK, MSG_TRUNC, FIONREAD, IP_PKTINFO, SO_TIMESTAMP, EAGAIN, SO_RCVTIMEO,
// dup/close, fork, an unsupported option); the script checks which path served.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../../support/probe_expect.h"
#include "../../support/signal_threads.h"

namespace {

constexpr uint16_t kPort = 7400;
constexpr const char* kServer4 = "198.18.0.2";
constexpr const char* kServer6 = "fd00:198:18::2";
constexpr const char* kClient4 = "198.18.0.1";
constexpr int kWaitMs = 3000;

sockaddr_storage address(int family, const char* text, uint16_t port, socklen_t* len) {
    sockaddr_storage ss{};
    if (family == AF_INET) {
        auto& in = reinterpret_cast<sockaddr_in&>(ss);
        in.sin_family = AF_INET;
        in.sin_port = htons(port);
        inet_pton(AF_INET, text, &in.sin_addr);
        *len = sizeof(in);
    } else {
        auto& in6 = reinterpret_cast<sockaddr_in6&>(ss);
        in6.sin6_family = AF_INET6;
        in6.sin6_port = htons(port);
        inet_pton(AF_INET6, text, &in6.sin6_addr);
        *len = sizeof(in6);
    }
    return ss;
}

std::vector<uint8_t> pattern(size_t size, unsigned seed) {
    std::vector<uint8_t> bytes(size);
    for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(i * 131 + seed * 7 + 1);
    return bytes;
}

bool readable(int fd, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN) != 0;
}

// ---- server: echoes every datagram; "N:<count>" asks for count copies ----

int server() {
    ::signal(SIGPIPE, SIG_IGN);
    int fds[2];
    for (int i = 0; i < 2; ++i) {
        const int family = i == 0 ? AF_INET : AF_INET6;
        fds[i] = ::socket(family, SOCK_DGRAM, 0);
        const int big = 4 << 20;
        ::setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
        socklen_t len = 0;
        auto addr = address(family, i == 0 ? kServer4 : kServer6, kPort, &len);
        if (::bind(fds[i], reinterpret_cast<sockaddr*>(&addr), len) != 0) {
            std::perror("server bind");
            return 1;
        }
    }
    std::printf("ready\n");
    std::fflush(stdout);
    std::vector<uint8_t> buffer(70000);
    for (;;) {
        pollfd p[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
        if (::poll(p, 2, 60000) <= 0) return 1;  // bounded: the client never needs a minute
        for (int i = 0; i < 2; ++i) {
            if ((p[i].revents & POLLIN) == 0) continue;
            sockaddr_storage from{};
            socklen_t from_len = sizeof(from);
            const ssize_t n = ::recvfrom(fds[i], buffer.data(), buffer.size(), MSG_DONTWAIT,
                                         reinterpret_cast<sockaddr*>(&from), &from_len);
            if (n < 0) continue;
            const std::string text(reinterpret_cast<char*>(buffer.data()),
                                   static_cast<size_t>(std::min<ssize_t>(n, 16)));
            if (text == "quit") return 0;
            int copies = 1;
            if (text.rfind("N:", 0) == 0) copies = std::atoi(text.c_str() + 2);
            for (int c = 0; c < copies; ++c)
                ::sendto(fds[i], buffer.data(), static_cast<size_t>(n), 0,
                         reinterpret_cast<sockaddr*>(&from), from_len);
        }
    }
}

// ---- client cases ----

int client_socket(int family, bool connected) {
    const int fd = ::socket(family, SOCK_DGRAM, 0);
    if (connected) {
        socklen_t len = 0;
        auto addr = address(family, family == AF_INET ? kServer4 : kServer6, kPort, &len);
        EXPECT(::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    }
    return fd;
}

// One echo round trip on a connected socket.
bool echo(int fd, const std::vector<uint8_t>& payload) {
    if (::send(fd, payload.data(), payload.size(), 0) != static_cast<ssize_t>(payload.size()))
        return false;
    if (!readable(fd, kWaitMs)) return false;
    std::vector<uint8_t> back(70000);
    const ssize_t n = ::recv(fd, back.data(), back.size(), 0);
    return n == static_cast<ssize_t>(payload.size()) &&
           std::memcmp(back.data(), payload.data(), payload.size()) == 0;
}

void case_sizes() {
    const size_t sizes[] = {1, 2, 100, 1472, 1473, 3000, 8972, 20000, 65507};
    for (int family : {AF_INET, AF_INET6}) {
        // Connected, and unconnected with sendto/recvfrom.
        const int connected = client_socket(family, true);
        const int unconnected = client_socket(family, false);
        socklen_t len = 0;
        auto server = address(family, family == AF_INET ? kServer4 : kServer6, kPort, &len);
        unsigned seed = 0;
        for (size_t size : sizes) {
            const size_t limit = family == AF_INET ? 65507 : 65527;
            if (size > limit) continue;
            const auto payload = pattern(size, ++seed);
            const bool ok = echo(connected, payload);
            if (!ok) std::fprintf(stderr, "echo of %zu bytes (family %d) failed\n", size, family);
            EXPECT(ok);
            EXPECT(::sendto(unconnected, payload.data(), size, 0,
                            reinterpret_cast<sockaddr*>(&server),
                            len) == static_cast<ssize_t>(size));
            EXPECT(readable(unconnected, kWaitMs));
            std::vector<uint8_t> back(70000);
            sockaddr_storage from{};
            socklen_t from_len = sizeof(from);
            EXPECT(::recvfrom(unconnected, back.data(), back.size(), 0,
                              reinterpret_cast<sockaddr*>(&from),
                              &from_len) == static_cast<ssize_t>(size));
            EXPECT(from_len == len && std::memcmp(&from, &server, len) == 0);
            EXPECT(std::memcmp(back.data(), payload.data(), size) == 0);
        }
        // Too big for UDP: EMSGSIZE, as the kernel says.
        std::vector<uint8_t> big(70000);
        errno = 0;
        EXPECT(::send(connected, big.data(), big.size(), 0) == -1 && errno == EMSGSIZE);
        ::close(connected);
        ::close(unconnected);
    }
}

void case_recv_features() {
    const int fd = client_socket(AF_INET, true);
    const int on = 1;
    EXPECT(::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)) == 0);
    EXPECT(::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMP, &on, sizeof(on)) == 0);
    const auto payload = pattern(100, 9);
    EXPECT(::send(fd, payload.data(), payload.size(), 0) == 100);
    EXPECT(readable(fd, kWaitMs));
    int next = -1;
    EXPECT(::ioctl(fd, FIONREAD, &next) == 0 && next == 100);
    char peek[10];
    EXPECT(::recv(fd, peek, sizeof(peek), MSG_PEEK) == 10);
    EXPECT(std::memcmp(peek, payload.data(), 10) == 0);
    // Still there after the peek; MSG_TRUNC returns the full length.
    char small[10];
    iovec iov{small, sizeof(small)};
    alignas(cmsghdr) char control[256];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    EXPECT(::recvmsg(fd, &msg, MSG_TRUNC) == 100);
    EXPECT((msg.msg_flags & MSG_TRUNC) != 0);
    bool pktinfo = false;
    bool timestamp = false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            in_pktinfo info{};
            std::memcpy(&info, CMSG_DATA(c), sizeof(info));
            char text[INET_ADDRSTRLEN] = {};
            inet_ntop(AF_INET, &info.ipi_addr, text, sizeof(text));
            pktinfo = std::strcmp(text, kClient4) == 0 && info.ipi_ifindex > 0;
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMP) {
            timeval tv{};
            std::memcpy(&tv, CMSG_DATA(c), sizeof(tv));
            timeval now{};
            ::gettimeofday(&now, nullptr);
            timestamp = tv.tv_sec > 0 && std::labs(now.tv_sec - tv.tv_sec) <= 5;
        }
    }
    EXPECT(pktinfo);
    EXPECT(timestamp);
    // Without MSG_TRUNC: what fitted, and the flag.
    EXPECT(::send(fd, payload.data(), payload.size(), 0) == 100);
    EXPECT(readable(fd, kWaitMs));
    msghdr plain{};
    plain.msg_iov = &iov;
    plain.msg_iovlen = 1;
    EXPECT(::recvmsg(fd, &plain, 0) == 10);
    EXPECT((plain.msg_flags & MSG_TRUNC) != 0);
    // Empty queue: FIONREAD says 0.
    EXPECT(::ioctl(fd, FIONREAD, &next) == 0 && next == 0);
    ::close(fd);

    // IPv6: IPV6_RECVPKTINFO and SO_TIMESTAMPNS.
    const int fd6 = client_socket(AF_INET6, true);
    EXPECT(::setsockopt(fd6, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on)) == 0);
    EXPECT(::setsockopt(fd6, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) == 0);
    EXPECT(::send(fd6, payload.data(), payload.size(), 0) == 100);
    EXPECT(readable(fd6, kWaitMs));
    char buffer[200];
    iovec iov6{buffer, sizeof(buffer)};
    msghdr msg6{};
    msg6.msg_iov = &iov6;
    msg6.msg_iovlen = 1;
    msg6.msg_control = control;
    msg6.msg_controllen = sizeof(control);
    EXPECT(::recvmsg(fd6, &msg6, 0) == 100);
    bool pktinfo6 = false;
    bool timestampns = false;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg6); c != nullptr; c = CMSG_NXTHDR(&msg6, c)) {
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) pktinfo6 = true;
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) timestampns = true;
    }
    EXPECT(pktinfo6);
    EXPECT(timestampns);
    ::close(fd6);
}

void case_nonblocking() {
    const int fd = client_socket(AF_INET, true);
    char buffer[16];
    errno = 0;
    EXPECT(::recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT) == -1 && errno == EAGAIN);
    EXPECT(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
    errno = 0;
    EXPECT(::recv(fd, buffer, sizeof(buffer), 0) == -1 && errno == EAGAIN);
    EXPECT(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) == 0);
    int one = 1;
    EXPECT(::ioctl(fd, FIONBIO, &one) == 0);
    errno = 0;
    EXPECT(::read(fd, buffer, sizeof(buffer)) == -1 && errno == EAGAIN);
    ::close(fd);
    // SOCK_NONBLOCK at creation, decided at connect.
    const int nb = ::socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    socklen_t len = 0;
    auto addr = address(AF_INET6, kServer6, kPort, &len);
    EXPECT(::connect(nb, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    errno = 0;
    EXPECT(::recv(nb, buffer, sizeof(buffer), 0) == -1 && errno == EAGAIN);
    EXPECT(echo(nb, pattern(32, 1)));  // readiness via poll, then a nonblocking recv
    ::close(nb);
}

void case_rcvtimeo() {
    const int fd = client_socket(AF_INET, true);
    const timeval tv{0, 200000};
    EXPECT(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
    char buffer[16];
    const auto start = std::chrono::steady_clock::now();
    errno = 0;
    EXPECT(::recv(fd, buffer, sizeof(buffer), 0) == -1 && errno == EAGAIN);
    const auto waited = std::chrono::steady_clock::now() - start;
    EXPECT(waited >= std::chrono::milliseconds(150));
    EXPECT(waited < std::chrono::seconds(5));
    // A datagram that comes in time is returned (blocking path, no poll first).
    const auto payload = pattern(50, 3);
    EXPECT(::send(fd, payload.data(), payload.size(), 0) == 50);
    char back[64];
    EXPECT(::recv(fd, back, sizeof(back), 0) == 50);
    // recvmmsg with MSG_WAITFORONE: two echoes asked, both arrive.
    const char ask[] = "N:2";
    EXPECT(::send(fd, ask, 3, 0) == 3);
    EXPECT(readable(fd, kWaitMs));
    ::usleep(100000);
    char bufs[4][16];
    iovec iovs[4];
    mmsghdr msgs[4] = {};
    for (int i = 0; i < 4; ++i) {
        iovs[i] = {bufs[i], sizeof(bufs[i])};
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    EXPECT(::recvmmsg(fd, msgs, 4, MSG_WAITFORONE, nullptr) == 2);
    EXPECT(msgs[0].msg_len == 3 && msgs[1].msg_len == 3);
    ::close(fd);
}

// Run with a long XLANE_SPIN_US (1 s): signals that land while a blocking
// receive spins on the rings act as on the kernel's wait. Without SA_RESTART
// the call fails with EINTR at once, not when the spin is over; with it the
// call goes on and returns the datagram that comes later.
std::atomic<int> g_usr1_handled{0};

void handle_usr1(int flags) {
    struct sigaction action {};
    action.sa_handler = [](int) { g_usr1_handled.fetch_add(1); };
    sigemptyset(&action.sa_mask);
    action.sa_flags = flags;
    EXPECT(::sigaction(SIGUSR1, &action, nullptr) == 0);
}

void case_spin_signals() {
    const int fd = client_socket(AF_INET, true);
    const auto payload = pattern(40, 9);
    EXPECT(echo(fd, payload));  // the socket is on its path now
    char back[64];
    handle_usr1(0);
    {
        xlane::test::DelayedSignal signals(::pthread_self(), std::chrono::milliseconds(50));
        const auto start = std::chrono::steady_clock::now();
        errno = 0;
        EXPECT(::recv(fd, back, sizeof(back), 0) == -1 && errno == EINTR);
        EXPECT(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(900));
    }
    handle_usr1(SA_RESTART);
    {
        g_usr1_handled.store(0);
        std::thread late([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
            EXPECT(::send(fd, payload.data(), payload.size(), 0) == 40);
        });
        xlane::test::DelayedSignal signals(::pthread_self(), std::chrono::milliseconds(50));
        EXPECT(::recv(fd, back, sizeof(back), 0) == 40);
        EXPECT(g_usr1_handled.load() > 0);
        late.join();
    }
    ::signal(SIGUSR1, SIG_IGN);
    ::close(fd);
}

void case_dup() {
    const int fd = client_socket(AF_INET, true);
    EXPECT(echo(fd, pattern(10, 4)));
    const int copy = ::dup(fd);
    EXPECT(copy >= 0);
    EXPECT(::close(fd) == 0);
    EXPECT(echo(copy, pattern(20, 5)));  // the engine socket lives on
    const int third = ::fcntl(copy, F_DUPFD_CLOEXEC, 100);
    EXPECT(third >= 100);
    EXPECT(::dup2(third, copy) == copy);  // same socket onto itself's other name
    EXPECT(echo(copy, pattern(30, 6)));
    EXPECT(::close(third) == 0);
    EXPECT(echo(copy, pattern(40, 7)));
    EXPECT(::close(copy) == 0);
    errno = 0;
    EXPECT(::send(copy, "x", 1, 0) == -1 && errno == EBADF);
}

void case_fork() {
    const int fd = client_socket(AF_INET, true);
    EXPECT(echo(fd, pattern(64, 8)));
    int go[2];
    EXPECT(::pipe(go) == 0);
    const pid_t child = ::fork();
    if (child == 0) {
        char byte = 0;
        if (::read(go[0], &byte, 1) != 1) _exit(3);
        // A new socket in the child works (the kernel's, or its own fast path).
        const int fresh = client_socket(AF_INET, true);
        if (!echo(fresh, pattern(70, 9))) _exit(4);
        // The inherited one too, now that the parent has closed its copy.
        if (!echo(fd, pattern(80, 10))) _exit(5);
        _exit(g_failures == 0 ? 0 : 6);
    }
    EXPECT(child > 0);
    ::close(fd);  // the parent's engine lets the flow go back to the kernel
    EXPECT(::write(go[1], "g", 1) == 1);
    int status = 0;
    EXPECT(::waitpid(child, &status, 0) == child);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        std::fprintf(stderr, "fork child ended with status %d\n", status);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ::close(go[0]);
    ::close(go[1]);
}

// An option the fast path does not serve: the datagrams already queued in
// user space are still delivered, in order, then the kernel socket serves.
void case_unsupported_option() {
    const int fd = client_socket(AF_INET, true);
    EXPECT(echo(fd, pattern(8, 11)));
    const char ask[] = "N:3";
    EXPECT(::send(fd, ask, 3, 0) == 3);
    EXPECT(readable(fd, kWaitMs));
    ::usleep(200000);  // all three queued
    const int on = 1;
    EXPECT(::setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on)) == 0);
    char buffer[16];
    for (int i = 0; i < 3; ++i) {
        EXPECT(readable(fd, kWaitMs));
        EXPECT(::recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT) == 3);
    }
    errno = 0;
    EXPECT(::recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT) == -1 && errno == EAGAIN);
    EXPECT(echo(fd, pattern(90, 12)));
    ::close(fd);
}

// Sockets among fds 0..2 (the standard streams may be sockets under some runners).
int standard_stream_sockets() {
    int count = 0;
    for (int fd = 0; fd < 3; ++fd) {
        char path[64];
        char link[128] = {};
        std::snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (::readlink(path, link, sizeof(link) - 1) > 0 && std::strncmp(link, "socket:", 7) == 0)
            ++count;
    }
    return count;
}

// exec: the program that follows inherits the application's own socket and
// nothing of the fast path (AF_XDP sockets, eventfds, epoll, interface lock).
void case_exec() {
    // Every other socket of this program is closed by now: the exec'd one
    // inherits the standard streams and `fd`.
    const int sockets_before = standard_stream_sockets();
    const int fd = client_socket(AF_INET, true);  // not close-on-exec, on purpose
    EXPECT(echo(fd, pattern(16, 13)));
    int out[2];
    EXPECT(::pipe(out) == 0);
    const pid_t child = ::fork();
    if (child == 0) {
        ::dup2(out[1], 1);
        ::execl("/bin/sh", "sh", "-c",
                "n=0; e=0; for f in /proc/$$/fd/*; do l=$(readlink $f); case $l in "
                "socket:*) n=$((n+1));; anon_inode:*|*.lock) e=$((e+1));; esac; done; echo $n $e",
                static_cast<char*>(nullptr));
        _exit(127);
    }
    ::close(out[1]);
    char text[64] = {};
    size_t got = 0;
    for (ssize_t n; (n = ::read(out[0], text + got, sizeof(text) - 1 - got)) > 0;) got += size_t(n);
    ::close(out[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    int sockets = -1;
    int others = -1;
    EXPECT(std::sscanf(text, "%d %d", &sockets, &others) == 2);
    if (sockets != sockets_before + 1 || others != 0)
        std::fprintf(stderr, "after exec: %d sockets (want %d), %d anon/lock files (want 0)\n",
                     sockets, sockets_before + 1, others);
    EXPECT(sockets == sockets_before + 1);
    EXPECT(others == 0);
    ::close(fd);
}

// connect(AF_UNSPEC) dissolves the association; the socket keeps working
// unconnected (sendto/recvfrom), and connects again.
void case_disconnect() {
    const int fd = ::socket(AF_INET6, SOCK_DGRAM, 0);
    socklen_t len = 0;
    auto server = address(AF_INET6, kServer6, kPort, &len);
    EXPECT(::connect(fd, reinterpret_cast<sockaddr*>(&server), len) == 0);
    EXPECT(echo(fd, pattern(24, 14)));
    sockaddr unspec{};
    unspec.sa_family = AF_UNSPEC;
    EXPECT(::connect(fd, &unspec, sizeof(unspec)) == 0);
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof(peer);
    errno = 0;
    EXPECT(::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) == -1 &&
           errno == ENOTCONN);
    errno = 0;
    EXPECT(::send(fd, "x", 1, 0) == -1 && errno == EDESTADDRREQ);
    const auto payload = pattern(48, 15);
    EXPECT(::sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&server),
                    len) == 48);
    EXPECT(readable(fd, kWaitMs));
    char back[64];
    EXPECT(::recvfrom(fd, back, sizeof(back), 0, nullptr, nullptr) == 48);
    EXPECT(std::memcmp(back, payload.data(), 48) == 0);
    EXPECT(::connect(fd, reinterpret_cast<sockaddr*>(&server), len) == 0);
    EXPECT(echo(fd, pattern(56, 16)));
    ::close(fd);
}

// A connected socket to a port nobody serves: the ICMP error the kernel
// socket gets comes back as ECONNREFUSED on the next receive, as in Linux.
void case_refused() {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    socklen_t len = 0;
    auto closed = address(AF_INET, kServer4, kPort + 1, &len);
    EXPECT(::connect(fd, reinterpret_cast<sockaddr*>(&closed), len) == 0);
    EXPECT(::send(fd, "x", 1, 0) == 1);
    pollfd p{fd, POLLIN, 0};
    EXPECT(::poll(&p, 1, kWaitMs) == 1);
    char buffer[8];
    errno = 0;
    EXPECT(::recv(fd, buffer, sizeof(buffer), 0) == -1 && errno == ECONNREFUSED);
    errno = 0;
    EXPECT(::recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT) == -1 && errno == EAGAIN);
    ::close(fd);
}

// Leaves a bound and a connected socket open: the library's exit handler
// must remove their steering entries (the script looks).
void case_leave_open() {
    const int connected = client_socket(AF_INET, true);
    EXPECT(echo(connected, pattern(12, 17)));
    const int bound = ::socket(AF_INET6, SOCK_DGRAM, 0);
    socklen_t len = 0;
    auto any = address(AF_INET6, "::", 0, &len);
    EXPECT(::bind(bound, reinterpret_cast<sockaddr*>(&any), len) == 0);
}

// Two threads block in recv on one socket while two others send on it:
// every echo is received exactly once.
void case_threads() {
    const int fd = client_socket(AF_INET, true);
    const timeval tv{5, 0};  // bounded: a lost datagram fails the case, never hangs it
    EXPECT(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
    constexpr int kPerSender = 200;
    std::atomic<int> received{0};
    std::atomic<bool> failed{false};
    auto receiver = [&] {
        char buffer[64];
        while (received.load() < 2 * kPerSender) {
            const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
            if (n == 8) {
                received.fetch_add(1);
            } else if (n < 0 && errno == EAGAIN) {
                if (received.load() < 2 * kPerSender) failed = true;
                return;
            }
        }
    };
    auto sender = [&](unsigned seed) {
        const auto payload = pattern(8, seed);
        for (int i = 0; i < kPerSender; ++i) {
            if (::send(fd, payload.data(), payload.size(), 0) != 8) failed = true;
            if (i % 16 == 15) ::usleep(1000);  // stay within the receive buffers
        }
    };
    std::thread r1(receiver), r2(receiver), s1(sender, 1u), s2(sender, 2u);
    s1.join();
    s2.join();
    // The receivers end on the count; a 1-byte echo wakes one still waiting.
    for (int i = 0; i < 500 && received.load() < 2 * kPerSender; ++i) ::usleep(10000);
    EXPECT(::send(fd, "w", 1, 0) == 1);
    EXPECT(::send(fd, "w", 1, 0) == 1);
    r1.join();
    r2.join();
    EXPECT(!failed);
    EXPECT(received.load() == 2 * kPerSender);
    ::close(fd);
}

// Many echoes on one connected socket: for the fast path counter check.
void case_traffic() {
    const int fd = client_socket(AF_INET, true);
    for (int i = 0; i < 50; ++i) EXPECT(echo(fd, pattern(64, static_cast<unsigned>(i))));
    ::close(fd);
}

void case_quit() {
    for (int family : {AF_INET}) {
        const int fd = client_socket(family, true);
        ::send(fd, "quit", 4, 0);
        ::close(fd);
    }
}

// `udp_probe burst PORT COUNT HOW`: COUNT datagrams of 64 bytes sent back
// to back to 198.18.0.2:PORT, then the image ends at once by HOW (_exit,
// _Exit, execl, execlp), with no exit handler and no close(). The kernel's
// UDP has sent every accepted datagram by then; so must the fast path,
// whose batched sends may still sit on the TX ring.
int burst_then_end(uint16_t port, int count, const char* how) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    socklen_t len = 0;
    auto addr = address(AF_INET, kServer4, port, &len);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) return 3;
    const auto payload = pattern(64, 5);
    for (int i = 0; i < count; ++i)
        if (::send(fd, payload.data(), payload.size(), 0) != 64) return 4;
    if (std::strcmp(how, "_exit") == 0) ::_exit(0);
    if (std::strcmp(how, "_Exit") == 0) ::_Exit(0);
    if (std::strcmp(how, "execl") == 0) ::execl("/bin/true", "true", static_cast<char*>(nullptr));
    if (std::strcmp(how, "execlp") == 0) ::execlp("true", "true", static_cast<char*>(nullptr));
    return 5;  // unknown HOW, or the exec failed
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    if (argc >= 2 && std::strcmp(argv[1], "server") == 0) return server();
    if (argc == 5 && std::strcmp(argv[1], "burst") == 0)
        return burst_then_end(static_cast<uint16_t>(std::atoi(argv[2])), std::atoi(argv[3]),
                              argv[4]);
    if (argc < 3 || std::strcmp(argv[1], "client") != 0) {
        std::fprintf(stderr, "usage: udp_probe server | udp_probe client CASE...\n");
        return 2;
    }
    struct Case {
        const char* name;
        void (*run)();
    };
    const Case cases[] = {{"sizes", case_sizes},
                          {"recv_features", case_recv_features},
                          {"nonblocking", case_nonblocking},
                          {"rcvtimeo", case_rcvtimeo},
                          {"spin_signals", case_spin_signals},
                          {"dup", case_dup},
                          {"fork", case_fork},
                          {"unsupported_option", case_unsupported_option},
                          {"exec", case_exec},
                          {"disconnect", case_disconnect},
                          {"refused", case_refused},
                          {"leave_open", case_leave_open},
                          {"threads", case_threads},
                          {"traffic", case_traffic},
                          {"quit", case_quit}};
    for (int i = 2; i < argc; ++i) {
        bool found = false;
        for (const auto& c : cases) {
            if (std::strcmp(c.name, argv[i]) != 0) continue;
            found = true;
            const int before = g_failures;
            c.run();
            std::printf("%s: %s\n", c.name, g_failures == before ? "ok" : "FAILED");
        }
        if (!found) {
            std::fprintf(stderr, "unknown case %s\n", argv[i]);
            return 2;
        }
    }
    return g_failures == 0 ? 0 : 1;
}
