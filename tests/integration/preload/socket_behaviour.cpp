// A table of socket calls, good and bad, each printed as one line "row: result".
// ctest runs it with and without LD_PRELOAD=libxlane.so and requires identical
// output; each row also carries the result Linux documents, so a row that
// changes under either run fails on its own; the misuse table (kMisuseRows,
// at least 100 bad calls) is one part of it. IP rows run over 127.0.0.1/::1 in
// a private network namespace; without one (no root, no user namespaces) only
// the rows that need no network run.
#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string>

#include "../../support/private_network.h"

namespace {

int g_mismatches = 0;

// "3", or "-1 EBADF" for a failed call; errno names, not numbers, so the
// output reads as the man pages do.
std::string outcome(long ret, int err) {
    if (ret >= 0) return std::to_string(ret);
    const char* name = strerrorname_np(err);
    return "-1 " + std::string(name != nullptr ? name : std::to_string(err).c_str());
}

void row(const char* name, const std::string& got, const std::string& want) {
    std::printf("%-34s %s", name, got.c_str());
    if (got != want) {
        std::printf("   MISMATCH, Linux gives: %s", want.c_str());
        ++g_mismatches;
    }
    std::printf("\n");
}

// Runs one call and checks its return value and errno against `want`.
template <typename Call>
void check(const char* name, const std::string& want, Call&& call) {
    errno = 0;
    const long ret = static_cast<long>(call());
    row(name, outcome(ret, errno), want);
}

// For calls that return a new fd: the number itself is not part of the contract.
std::string fd_or_error(int fd) {
    return fd >= 0 ? "fd" : outcome(fd, errno);
}

int tcp_listener(int family, sockaddr_storage* addr, socklen_t* len) {
    const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    std::memset(addr, 0, sizeof(*addr));
    if (family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(addr);
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        *len = sizeof(*a);
    } else {
        auto* a = reinterpret_cast<sockaddr_in6*>(addr);
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        *len = sizeof(*a);
    }
    ::bind(fd, reinterpret_cast<sockaddr*>(addr), *len);
    ::listen(fd, 8);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(addr), len);
    return fd;
}

// The option's value, or -1 with errno set.
int get_int_option(int fd, int level, int name) {
    int value = -1;
    socklen_t len = sizeof(value);
    if (::getsockopt(fd, level, name, &value, &len) != 0) return -1;
    return value;
}

bool wait_readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 5000) == 1;
}

// Variable lengths keep the compiler from proving a call safe, so with
// _FORTIFY_SOURCE it emits __read_chk/__recv_chk/__recvfrom_chk/__poll_chk.
volatile size_t g_len64 = 64;
volatile nfds_t g_nfds1 = 1;

ssize_t recv_fortified(int fd, int flags) {
    char local[64];
    return ::recv(fd, local, g_len64, flags);
}

ssize_t recvfrom_fortified(int fd, sockaddr* from, socklen_t* from_len) {
    char local[64];
    return ::recvfrom(fd, local, g_len64, 0, from, from_len);
}

void rows_without_network() {
    check("socket.bad_family", "-1 EAFNOSUPPORT", [] { return ::socket(12345, SOCK_STREAM, 0); });
    check("socket.bad_type", "-1 EINVAL", [] { return ::socket(AF_INET, 999, 0); });
    check("socket.udp_with_tcp", "-1 EPROTONOSUPPORT",
          [] { return ::socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP); });
    check("bind.bad_fd", "-1 EBADF", [] {
        sockaddr_in a{};
        return ::bind(-1, (sockaddr*)&a, sizeof(a));
    });
    int pipefd[2];
    if (::pipe(pipefd) != 0) std::abort();
    check("bind.not_socket", "-1 ENOTSOCK", [&] {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        return ::bind(pipefd[0], (sockaddr*)&a, sizeof(a));
    });
    check("getsockopt.not_socket", "-1 ENOTSOCK",
          [&] { return get_int_option(pipefd[0], SOL_SOCKET, SO_TYPE); });
    check("listen.bad_fd", "-1 EBADF", [] { return ::listen(9999, 1); });
    check("accept.bad_fd", "-1 EBADF", [] { return ::accept(-1, nullptr, nullptr); });
    check("close.bad_fd", "-1 EBADF", [] { return ::close(-1); });
    check("shutdown.not_socket", "-1 ENOTSOCK", [&] { return ::shutdown(pipefd[0], SHUT_RD); });

    int sv[2];
    check("socketpair.unix_stream", "0", [&] { return ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv); });
    check("socketpair.inet", "-1 EOPNOTSUPP", [] {
        int x[2];
        return ::socketpair(AF_INET, SOCK_STREAM, 0, x);
    });
    check("write.unix", "5", [&] { return ::write(sv[0], "hello", 5); });
    char buf[64];
    check("read_chk.unix", "5", [&] { return ::read(sv[1], buf, g_len64); });
    check("recv_chk.dontwait_empty", "-1 EAGAIN",
          [&] { return recv_fortified(sv[1], MSG_DONTWAIT); });
    iovec out[2] = {{(void*)"ab", 2}, {(void*)"cde", 3}};
    check("writev.unix", "5", [&] { return ::writev(sv[0], out, 2); });
    char a[2], b[8];
    iovec in[2] = {{a, 2}, {b, 8}};
    check("readv.unix", "5", [&] { return ::readv(sv[1], in, 2); });
    row("readv.content", std::string(a, 2) + std::string(b, 3), "abcde");

    // SCM_RIGHTS: the received fd is a socket the library never saw created.
    check("sendmsg.scm_rights", "1", [&] {
        char data = 'x';
        iovec v{&data, 1};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        msghdr m{};
        m.msg_iov = &v;
        m.msg_iovlen = 1;
        m.msg_control = control;
        m.msg_controllen = sizeof(control);
        cmsghdr* c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &sv[0], sizeof(int));
        return ::sendmsg(sv[0], &m, 0);
    });
    int passed = -1;
    check("recvmsg.scm_rights", "1", [&] {
        char data;
        iovec v{&data, 1};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        msghdr m{};
        m.msg_iov = &v;
        m.msg_iovlen = 1;
        m.msg_control = control;
        m.msg_controllen = sizeof(control);
        const ssize_t n = ::recvmsg(sv[1], &m, MSG_CMSG_CLOEXEC);
        if (n == 1 && CMSG_FIRSTHDR(&m) != nullptr)
            std::memcpy(&passed, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof(int));
        return n;
    });
    check("getsockopt.passed_fd_type", std::to_string(SOCK_STREAM),
          [&] { return get_int_option(passed, SOL_SOCKET, SO_TYPE); });
    ::close(passed);

    // fcntl (varargs: no argument, int, pointer) and dup*.
    check("fcntl.getfl_nonblock", "0", [&] { return ::fcntl(sv[0], F_GETFL) & O_NONBLOCK; });
    check("fcntl.setfl_nonblock", "0",
          [&] { return ::fcntl(sv[0], F_SETFL, O_NONBLOCK | O_RDWR); });
    check("fcntl.getfl_after", std::to_string(O_NONBLOCK),
          [&] { return ::fcntl(sv[0], F_GETFL) & O_NONBLOCK; });
    check("fcntl.dupfd_min", "1", [&] {
        const int fd = ::fcntl(sv[0], F_DUPFD_CLOEXEC, 200);
        const int ok = fd >= 200 && ::fcntl(fd, F_GETFD) == FD_CLOEXEC;
        ::close(fd);
        return ok;
    });
    check("fcntl.getlk_pointer", std::to_string(F_UNLCK), [&] {
        const int mfd = ::memfd_create("xlane-lock", MFD_CLOEXEC);
        struct flock lk {};
        lk.l_type = F_WRLCK;
        lk.l_whence = SEEK_SET;
        const int r = ::fcntl(mfd, F_GETLK, &lk);  // no conflicting lock: l_type comes back F_UNLCK
        ::close(mfd);
        return r == 0 ? lk.l_type : -2;
    });
    check("fcntl.bad_fd", "-1 EBADF", [] { return ::fcntl(-1, F_GETFD); });
    check("fcntl.bad_cmd", "-1 EINVAL", [&] { return ::fcntl(sv[0], 123456); });
    check("ioctl.fionbio", "0", [&] {
        int on = 0;
        return ::ioctl(sv[0], FIONBIO, &on);
    });
    check("ioctl.fionread", "3", [&] {
        if (::write(sv[0], "xyz", 3) != 3) return -2;
        int n = -1;
        return ::ioctl(sv[1], FIONREAD, &n) == 0 ? n : -1;
    });
    check("read.drain", "3", [&] { return ::read(sv[1], buf, 3); });
    check("ioctl.bad_request", "-1 ENOTTY", [&] { return ::ioctl(sv[0], 0x12345678, nullptr); });
    const int dup1 = ::dup(sv[0]);
    row("dup.socket", fd_or_error(dup1), "fd");
    check("dup.same_type", std::to_string(SOCK_STREAM),
          [&] { return get_int_option(dup1, SOL_SOCKET, SO_TYPE); });
    check("dup2.onto_itself", "1", [&] { return ::dup2(dup1, dup1) == dup1; });
    check("dup2.bad_fd", "-1 EBADF", [&] { return ::dup2(-1, dup1); });
    check("dup3.onto_itself", "-1 EINVAL", [&] { return ::dup3(dup1, dup1, 0); });
    check("dup3.bad_flags", "-1 EINVAL", [&] { return ::dup3(sv[0], 150, 0x1234); });
    check("dup2.onto_pipe", "1", [&] { return ::dup2(sv[0], pipefd[1]) == pipefd[1]; });
    check("dup2.result_is_socket", std::to_string(SOCK_STREAM),
          [&] { return get_int_option(pipefd[1], SOL_SOCKET, SO_TYPE); });
    check("close.dup", "0", [&] { return ::close(dup1); });
    check("close.twice", "-1 EBADF", [&] { return ::close(dup1); });
    check("close_range.socket", "-1 EBADF", [&] {
        const int fd = ::fcntl(sv[0], F_DUPFD, 300);
        ::close_range(fd, fd, 0);
        return ::fcntl(fd, F_GETFD);
    });

    // Readiness over the unix pair.
    check("poll.timeout0_empty", "0", [&] {
        pollfd p[1] = {{sv[1], POLLIN, 0}};
        return ::poll(p, g_nfds1, 0);
    });
    check("poll.bad_fd_pollnval", "1", [&] {
        pollfd p[1] = {{9999, POLLIN, 0}};
        return ::poll(p, g_nfds1, 0) == 1 && p[0].revents == POLLNVAL;
    });
    check("write.one", "1", [&] { return ::write(sv[0], "z", 1); });
    check("ppoll_chk.readable", "1", [&] {
        pollfd p[1] = {{sv[1], POLLIN, 0}};
        timespec t{0, 0};
        return ::ppoll(p, g_nfds1, &t, nullptr) == 1 && (p[0].revents & POLLIN);
    });
    check("select.readable", "1", [&] {
        fd_set r;
        FD_ZERO(&r);
        FD_SET(sv[1], &r);
        timeval t{0, 0};
        return ::select(sv[1] + 1, &r, nullptr, nullptr, &t) == 1 && FD_ISSET(sv[1], &r);
    });
    check("select.negative_nfds", "-1 EINVAL", [] {
        timeval t{0, 0};
        return ::select(-1, nullptr, nullptr, nullptr, &t);
    });
    check("pselect.timeout_remains_const", "1", [&] {
        fd_set r;
        FD_ZERO(&r);
        FD_SET(sv[0], &r);
        const timespec t{0, 1000};
        return ::pselect(sv[0] + 1, &r, nullptr, nullptr, &t, nullptr) == 0 && t.tv_nsec == 1000;
    });
    check("epoll_create.zero", "-1 EINVAL", [] { return ::epoll_create(0); });
    check("epoll_create1.bad_flags", "-1 EINVAL", [] { return ::epoll_create1(0x1234); });
    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    row("epoll_create1", fd_or_error(ep), "fd");
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ev.data.u64 = 42;
    check("epoll_ctl.add", "0", [&] { return ::epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev); });
    check("epoll_ctl.add_twice", "-1 EEXIST",
          [&] { return ::epoll_ctl(ep, EPOLL_CTL_ADD, sv[1], &ev); });
    check("epoll_ctl.bad_op", "-1 EINVAL", [&] { return ::epoll_ctl(ep, 99, sv[1], &ev); });
    check("epoll_ctl.itself", "-1 EINVAL", [&] { return ::epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev); });
    check("epoll_wait.edge_first", "1", [&] {
        epoll_event out[4];
        return ::epoll_wait(ep, out, 4, 1000) == 1 && out[0].data.u64 == 42;
    });
    check("epoll_wait.edge_second", "0", [&] {
        epoll_event out[4];
        return ::epoll_wait(ep, out, 4, 0);
    });
    check("epoll_wait.zero_max", "-1 EINVAL", [&] {
        epoll_event out[1];
        return ::epoll_wait(ep, out, 0, 0);
    });
    ev.events = EPOLLIN | EPOLLONESHOT;
    check("epoll_ctl.mod_oneshot", "0", [&] { return ::epoll_ctl(ep, EPOLL_CTL_MOD, sv[1], &ev); });
    check("epoll_pwait.oneshot_first", "1", [&] {
        epoll_event out[4];
        return ::epoll_pwait(ep, out, 4, 1000, nullptr);
    });
    check("epoll_pwait2.oneshot_disarmed", "0", [&] {
        epoll_event out[4];
        timespec t{0, 0};
        return ::epoll_pwait2(ep, out, 4, &t, nullptr);
    });
    check("read.one", "1", [&] { return ::read(sv[1], buf, 1); });
    check("epoll_ctl.del", "0", [&] { return ::epoll_ctl(ep, EPOLL_CTL_DEL, sv[1], nullptr); });
    check("epoll_ctl.del_again", "-1 ENOENT",
          [&] { return ::epoll_ctl(ep, EPOLL_CTL_DEL, sv[1], nullptr); });

    // sendfile from a memfd into the pair.
    check("sendfile.memfd", "5", [&] {
        const int mfd = ::memfd_create("xlane-behaviour", MFD_CLOEXEC);
        if (::write(mfd, "0123456789", 10) != 10) return -2L;
        off_t off = 2;
        const ssize_t n = ::sendfile(sv[0], mfd, &off, 5);
        ::close(mfd);
        return n == 5 && off == 7 ? ::read(sv[1], buf, g_len64) : -1;
    });
    check("sendfile.bad_in", "-1 EBADF", [&] { return ::sendfile(sv[0], -1, nullptr, 5); });

    // A fortified read past its buffer still aborts: the _chk checks are libc's.
    check("read_chk.overflow_aborts", std::to_string(SIGABRT), [&] {
        const pid_t child = ::fork();
        if (child == 0) {
            const int devnull = ::open("/dev/null", O_WRONLY);
            ::dup2(devnull, STDERR_FILENO);
            char small[4];
            volatile size_t len = 16;
            [[maybe_unused]] const ssize_t n = ::read(sv[1], small, len);
            ::_exit(0);
        }
        int status = 0;
        ::waitpid(child, &status, 0);
        return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    });

    // Signals and cancellation through blocking calls.
    check("recv.eintr", "-1 EINTR", [&] {
        struct sigaction sa {};
        sa.sa_handler = [](int) {};
        ::sigaction(SIGALRM, &sa, nullptr);  // no SA_RESTART
        const itimerval every10ms{{0, 10000}, {0, 10000}};
        ::setitimer(ITIMER_REAL, &every10ms, nullptr);
        const ssize_t n = ::recv(sv[1], buf, sizeof(buf), 0);
        const int err = errno;
        const itimerval off{};
        ::setitimer(ITIMER_REAL, &off, nullptr);
        errno = err;
        return n;
    });
    check("recv.pthread_cancel", "1", [&] {
        pthread_t thread;
        ::pthread_create(
            &thread, nullptr,
            [](void* arg) -> void* {
                char c;
                ::recv(*static_cast<int*>(arg), &c, 1, 0);
                return nullptr;
            },
            &sv[1]);
        ::usleep(20000);
        ::pthread_cancel(thread);
        void* result = nullptr;
        ::pthread_join(thread, &result);
        return result == PTHREAD_CANCELED;
    });
    ::close(ep);
    ::close(sv[0]);
    ::close(sv[1]);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
}

void tcp_rows(int family, const char* tag) {
    auto name = [tag](const char* what) {
        static std::string s;
        s = std::string(tag) + "." + what;
        return s.c_str();
    };
    sockaddr_storage addr;
    socklen_t len = 0;
    const int lst = tcp_listener(family, &addr, &len);
    const auto* sa = reinterpret_cast<const sockaddr*>(&addr);
    check(name("listener_type"), std::to_string(SOCK_STREAM),
          [&] { return get_int_option(lst, SOL_SOCKET, SO_TYPE); });
    check(name("listener_domain"), std::to_string(family),
          [&] { return get_int_option(lst, SOL_SOCKET, SO_DOMAIN); });
    check(name("acceptconn"), "1", [&] { return get_int_option(lst, SOL_SOCKET, SO_ACCEPTCONN); });
    check(name("bind_again"), "-1 EINVAL", [&] { return ::bind(lst, sa, len); });
    check(name("bind_short_len"), "-1 EINVAL", [&] {
        const int fd = ::socket(family, SOCK_STREAM, 0);
        const int r = ::bind(fd, sa, 3);
        const int err = errno;
        ::close(fd);
        errno = err;
        return r;
    });
    check(name("bind_in_use"), "-1 EADDRINUSE", [&] {
        const int fd = ::socket(family, SOCK_STREAM, 0);
        const int r = ::bind(fd, sa, len);
        const int err = errno;
        ::close(fd);
        errno = err;
        return r;
    });
    check(name("accept4_nonblock_empty"), "-1 EAGAIN", [&] {
        ::fcntl(lst, F_SETFL, O_NONBLOCK);
        const int r = ::accept4(lst, nullptr, nullptr, SOCK_CLOEXEC);
        const int err = errno;
        ::fcntl(lst, F_SETFL, 0);
        errno = err;
        return r;
    });
    check(name("accept4_bad_flags"), "-1 EINVAL",
          [&] { return ::accept4(lst, nullptr, nullptr, 0x40000000); });

    check(name("send_not_connected"), "-1 EPIPE", [&] {
        const int fd = ::socket(family, SOCK_STREAM, 0);
        const ssize_t r = ::send(fd, "x", 1, MSG_NOSIGNAL);
        const int err = errno;
        ::close(fd);
        errno = err;
        return r;
    });
    // Linux marks the socket shut down even as it answers ENOTCONN, so this one
    // gets a socket of its own.
    check(name("shutdown_not_connected"), "-1 ENOTCONN", [&] {
        const int fd = ::socket(family, SOCK_STREAM, 0);
        const int r = ::shutdown(fd, SHUT_WR);
        const int err = errno;
        ::close(fd);
        errno = err;
        return r;
    });
    const int cli = ::socket(family, SOCK_STREAM, 0);
    check(name("connect"), "0", [&] { return ::connect(cli, sa, len); });
    check(name("connect_again"), "-1 EISCONN", [&] { return ::connect(cli, sa, len); });
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof(peer);
    const int srv = ::accept(lst, reinterpret_cast<sockaddr*>(&peer), &peer_len);
    row(name("accept"), fd_or_error(srv), "fd");
    check(name("accept_peer_family"), std::to_string(family), [&] { return peer.ss_family; });
    check(name("getpeername_matches"), "1", [&] {
        sockaddr_storage local{};
        socklen_t local_len = sizeof(local);
        ::getsockname(cli, reinterpret_cast<sockaddr*>(&local), &local_len);
        return local_len == peer_len && std::memcmp(&local, &peer, peer_len) == 0;
    });
    check(name("getpeername_short"), std::to_string(len), [&] {
        sockaddr_storage p{};
        socklen_t plen = 2;
        ::getpeername(cli, reinterpret_cast<sockaddr*>(&p), &plen);
        return plen;
    });
    check(name("nodelay_default"), "0",
          [&] { return get_int_option(cli, IPPROTO_TCP, TCP_NODELAY); });
    check(name("setsockopt_nodelay"), "0", [&] {
        int on = 1;
        return ::setsockopt(cli, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    });
    check(name("nodelay_set"), "1", [&] { return get_int_option(cli, IPPROTO_TCP, TCP_NODELAY); });
    check(name("setsockopt_short_len"), "-1 EINVAL", [&] {
        char on = 1;
        return ::setsockopt(cli, SOL_SOCKET, SO_KEEPALIVE, &on, 1);
    });
    check(name("setsockopt_bad_level"), "-1 ENOPROTOOPT", [&] {
        int on = 1;
        return ::setsockopt(cli, 9999, 1, &on, sizeof(on));
    });
    check(name("getsockopt_bad_name"), "-1 ENOPROTOOPT",
          [&] { return get_int_option(cli, SOL_SOCKET, 9999); });
    check(name("so_error"), "0", [&] { return get_int_option(cli, SOL_SOCKET, SO_ERROR); });

    char buf[64];
    check(name("send"), "5", [&] { return ::send(cli, "hello", 5, 0); });
    check(name("fionread"), "5", [&] {
        int n = -1;
        return wait_readable(srv) && ::ioctl(srv, FIONREAD, &n) == 0 ? n : -1;
    });
    check(name("recv_peek"), "5", [&] { return ::recv(srv, buf, g_len64, MSG_PEEK); });
    check(name("recv_chk"), "5", [&] { return recv_fortified(srv, 0); });
    check(name("recv_dontwait"), "-1 EAGAIN",
          [&] { return ::recv(srv, buf, g_len64, MSG_DONTWAIT); });
    check(name("sendmsg_two_iov"), "4", [&] {
        iovec v[2] = {{(void*)"ab", 2}, {(void*)"cd", 2}};
        msghdr m{};
        m.msg_iov = v;
        m.msg_iovlen = 2;
        return ::sendmsg(srv, &m, 0);
    });
    check(name("recvmsg"), "4", [&] {
        wait_readable(cli);
        iovec v{buf, sizeof(buf)};
        msghdr m{};
        m.msg_iov = &v;
        m.msg_iovlen = 1;
        return ::recvmsg(cli, &m, MSG_WAITALL | MSG_DONTWAIT);
    });
    check(name("shutdown_bad_how"), "-1 EINVAL", [&] { return ::shutdown(cli, 7); });
    check(name("shutdown_wr"), "0", [&] { return ::shutdown(cli, SHUT_WR); });
    check(name("recv_eof"), "0", [&] { return ::recv(srv, buf, sizeof(buf), 0); });
    check(name("poll_rdhup"), "1", [&] {
        pollfd p[1] = {{srv, POLLIN | POLLRDHUP, 0}};
        return ::poll(p, g_nfds1, 1000) == 1 && (p[0].revents & POLLRDHUP) != 0;
    });
    check(name("send_after_shutdown"), "-1 EPIPE",
          [&] { return ::send(cli, "x", 1, MSG_NOSIGNAL); });
    ::close(srv);
    ::close(cli);

    // A closed port refuses, blocking and non-blocking alike.
    const int gone = tcp_listener(family, &addr, &len);
    ::close(gone);
    check(name("connect_refused"), "-1 ECONNREFUSED", [&] {
        const int fd = ::socket(family, SOCK_STREAM, 0);
        const int r = ::connect(fd, sa, len);
        const int err = errno;
        ::close(fd);
        errno = err;
        return r;
    });
    check(name("connect_nonblock_refused"), std::to_string(ECONNREFUSED), [&] {
        const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0);
        const int r = ::connect(fd, sa, len);
        const int err = errno;
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, 5000);
        const int so_error = get_int_option(fd, SOL_SOCKET, SO_ERROR);
        ::close(fd);
        // The refusal is reported once: by connect() itself or later by SO_ERROR.
        if (r == -1 && err == ECONNREFUSED) return ECONNREFUSED;
        return r == -1 && err == EINPROGRESS ? so_error : -1;
    });
    ::close(lst);
}

sockaddr_storage loopback_any_port(int family, socklen_t* len) {
    sockaddr_storage addr{};
    if (family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&addr);
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        *len = sizeof(*a);
    } else {
        auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        *len = sizeof(*a);
    }
    return addr;
}

void udp_rows(int family, const char* tag) {
    auto name = [tag](const char* what) {
        static std::string s;
        s = std::string(tag) + "." + what;
        return s.c_str();
    };
    socklen_t len = 0;
    sockaddr_storage addr = loopback_any_port(family, &len);
    auto* sa = reinterpret_cast<sockaddr*>(&addr);
    const int rx = ::socket(family, SOCK_DGRAM, 0);
    const int tx = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_UDP);
    check(name("type"), std::to_string(SOCK_DGRAM),
          [&] { return get_int_option(tx, SOL_SOCKET, SO_TYPE); });
    check(name("protocol"), std::to_string(IPPROTO_UDP),
          [&] { return get_int_option(tx, SOL_SOCKET, SO_PROTOCOL); });
    check(name("listen"), "-1 EOPNOTSUPP", [&] { return ::listen(rx, 1); });
    check(name("bind"), "0", [&] { return ::bind(rx, sa, len); });
    check(name("port_assigned"), "1", [&] {
        ::getsockname(rx, sa, &len);
        return family == AF_INET ? reinterpret_cast<sockaddr_in*>(sa)->sin_port != 0
                                 : reinterpret_cast<sockaddr_in6*>(sa)->sin6_port != 0;
    });
    check(name("setsockopt_rcvbuf"), "0", [&] {
        int size = 65536;
        return ::setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    });
    check(name("rcvbuf_doubled"), "131072",
          [&] { return get_int_option(rx, SOL_SOCKET, SO_RCVBUF); });
    // IPv4 and IPv6 answer differently here; both are Linux's answers.
    check(name("tcp_option_on_udp"), family == AF_INET ? "-1 EOPNOTSUPP" : "-1 ENOPROTOOPT",
          [&] { return get_int_option(rx, IPPROTO_TCP, TCP_NODELAY); });
    check(name("send_unconnected"), "-1 EDESTADDRREQ", [&] { return ::send(tx, "x", 1, 0); });
    check(name("sendto"), "4", [&] { return ::sendto(tx, "ping", 4, 0, sa, len); });
    char buf[64];
    sockaddr_storage from{};
    socklen_t from_len = sizeof(from);
    check(name("recvfrom_chk"), "4",
          [&] { return recvfrom_fortified(rx, reinterpret_cast<sockaddr*>(&from), &from_len); });
    // The sender was bound implicitly to the wildcard address, so compare ports.
    check(name("recvfrom_source_port"), "1", [&] {
        sockaddr_storage local{};
        socklen_t local_len = sizeof(local);
        ::getsockname(tx, reinterpret_cast<sockaddr*>(&local), &local_len);
        const auto port = [family](const sockaddr_storage& a) {
            return family == AF_INET ? reinterpret_cast<const sockaddr_in&>(a).sin_port
                                     : reinterpret_cast<const sockaddr_in6&>(a).sin6_port;
        };
        return local_len == from_len && port(local) == port(from);
    });
    check(name("recvfrom_dontwait_empty"), "-1 EAGAIN",
          [&] { return ::recvfrom(rx, buf, sizeof(buf), MSG_DONTWAIT, nullptr, nullptr); });
    check(name("sendto_bad_len"), "-1 EINVAL", [&] { return ::sendto(tx, "x", 1, 0, sa, 3); });
    check(name("sendto_too_big"), "-1 EMSGSIZE", [&] {
        static char big[70000];
        return ::sendto(tx, big, sizeof(big), 0, sa, len);
    });

    // Batched calls: three datagrams out, three in.
    check(name("sendmmsg"), "3", [&] {
        char payload[3][2] = {{'a', '1'}, {'b', '2'}, {'c', '3'}};
        iovec v[3];
        mmsghdr m[3] = {};
        for (int i = 0; i < 3; ++i) {
            v[i] = {payload[i], 2};
            m[i].msg_hdr.msg_iov = &v[i];
            m[i].msg_hdr.msg_iovlen = 1;
            m[i].msg_hdr.msg_name = sa;
            m[i].msg_hdr.msg_namelen = len;
        }
        return ::sendmmsg(tx, m, 3, 0);
    });
    check(name("recvmmsg"), "3", [&] {
        wait_readable(rx);
        char payload[4][8];
        iovec v[4];
        mmsghdr m[4] = {};
        for (int i = 0; i < 4; ++i) {
            v[i] = {payload[i], 8};
            m[i].msg_hdr.msg_iov = &v[i];
            m[i].msg_hdr.msg_iovlen = 1;
        }
        const int n = ::recvmmsg(rx, m, 4, MSG_DONTWAIT, nullptr);
        return n == 3 && m[2].msg_len == 2 && payload[2][0] == 'c' ? n : -100;
    });

    // Connected UDP to a closed port: the ICMP error comes back on the next call.
    const int closed = ::socket(family, SOCK_DGRAM, 0);
    sockaddr_storage closed_addr = loopback_any_port(family, &len);
    ::bind(closed, reinterpret_cast<sockaddr*>(&closed_addr), len);
    ::getsockname(closed, reinterpret_cast<sockaddr*>(&closed_addr), &len);
    ::close(closed);
    check(name("connect"), "0",
          [&] { return ::connect(tx, reinterpret_cast<sockaddr*>(&closed_addr), len); });
    check(name("send_to_closed_port"), "1", [&] { return ::send(tx, "x", 1, 0); });
    check(name("recv_refused"), "-1 ECONNREFUSED", [&] {
        pollfd p[1] = {{tx, POLLIN, 0}};
        ::poll(p, g_nfds1, 5000);
        return ::recv(tx, buf, sizeof(buf), 0);
    });
    check(name("epoll_level_triggered"), "1", [&] {
        const int ep = ::epoll_create(1);
        epoll_event ev{};
        ev.events = EPOLLOUT;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, tx, &ev);
        epoll_event out[2];
        const int first = ::epoll_wait(ep, out, 2, 1000);
        const int second = ::epoll_wait(ep, out, 2, 1000);
        ::close(ep);
        return first == 1 && second == 1;
    });
    ::close(rx);
    ::close(tx);
}

// ---- the misuse table ------------------------------------------------------
// Bad calls an application can make: invalid pointers (EFAULT: the kernel
// refuses them; libc passes them through untouched), bad descriptors
// (EBADF), descriptors that are not sockets (ENOTSOCK), bad lengths, flags
// and operations (EINVAL, EOPNOTSUPP, ...), unknown options (ENOPROTOOPT).
// Each gives the same result and errno with and without libxlane.so and
// never crashes: once the library serves a socket itself, every row here is
// its job, not the kernel's. Only rows whose result plain Linux gives
// without touching the bad pointer in libc are listed.

// Sockets and descriptors the rows misuse; `loop_*` only with a network.
struct MisuseFixture {
    int pipe_r = -1, pipe_w = -1;
    int udp = -1;     // AF_INET UDP, unbound
    int tcp = -1;     // AF_INET TCP, unbound and unconnected
    int unix_a = -1;  // AF_UNIX stream pair; unix_b has data waiting
    int unix_b = -1;
    int unix_listener = -1;  // AF_UNIX stream socket, listening
    int epfd = -1;
    int closed = -1;   // a descriptor number that was open and is closed now
    int loop_rx = -1;  // UDP on 127.0.0.1 with datagrams waiting (network only)
    int loop_tx = -1;  // UDP connected to loop_rx
};

// An address the kernel refuses with EFAULT, out of the compiler's sight so
// that fortified builds do not warn about or rewrite the calls.
void* bad_pointer() {
    volatile uintptr_t address = 1;
    return reinterpret_cast<void*>(address);
}
sockaddr* bad_address() {
    return static_cast<sockaddr*>(bad_pointer());
}
socklen_t* bad_length() {
    return static_cast<socklen_t*>(bad_pointer());
}
// Bad counts, likewise hidden from the compiler's checks.
volatile int g_minus_one = -1;
volatile nfds_t g_huge_nfds = nfds_t{1} << 30;

sockaddr_in inet_any() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    return a;
}

// Keeps data waiting on the reading end before a row reads it.
void refill(const MisuseFixture& f) {
    char probe;
    if (::recv(f.unix_b, &probe, 1, MSG_PEEK | MSG_DONTWAIT) != 1)
        (void)!::write(f.unix_a, "data", 4);
    if (f.loop_tx >= 0 && ::recv(f.loop_rx, &probe, 1, MSG_PEEK | MSG_DONTWAIT) != 1)
        (void)!::send(f.loop_tx, "dgram", 5, 0);
}

struct MisuseRow {
    const char* name;
    const char* want;
    bool needs_network;
    long (*call)(const MisuseFixture& f);
};

using F = const MisuseFixture&;
const MisuseRow kMisuseRows[] = {
    // -- EBADF: a negative and a closed descriptor
    {"misuse.bind.fd_-1", "-1 EBADF", false, [](F) -> long { auto a = inet_any(); return ::bind(-1, (sockaddr*)&a, sizeof(a)); }},
    {"misuse.bind.fd_closed", "-1 EBADF", false, [](F f) -> long { auto a = inet_any(); return ::bind(f.closed, (sockaddr*)&a, sizeof(a)); }},
    {"misuse.connect.fd_-1", "-1 EBADF", false, [](F) -> long { auto a = inet_any(); return ::connect(-1, (sockaddr*)&a, sizeof(a)); }},
    {"misuse.connect.fd_closed", "-1 EBADF", false, [](F f) -> long { auto a = inet_any(); return ::connect(f.closed, (sockaddr*)&a, sizeof(a)); }},
    {"misuse.listen.fd_closed", "-1 EBADF", false, [](F f) -> long { return ::listen(f.closed, 1); }},
    {"misuse.accept.fd_closed", "-1 EBADF", false, [](F f) -> long { return ::accept(f.closed, nullptr, nullptr); }},
    {"misuse.accept4.fd_-1", "-1 EBADF", false, [](F) -> long { return ::accept4(-1, nullptr, nullptr, 0); }},
    {"misuse.getsockname.fd_-1", "-1 EBADF", false, [](F) -> long { sockaddr_storage s; socklen_t l = sizeof(s); return ::getsockname(-1, (sockaddr*)&s, &l); }},
    {"misuse.getpeername.fd_closed", "-1 EBADF", false, [](F f) -> long { sockaddr_storage s; socklen_t l = sizeof(s); return ::getpeername(f.closed, (sockaddr*)&s, &l); }},
    {"misuse.getsockopt.fd_-1", "-1 EBADF", false, [](F) -> long { int v; socklen_t l = sizeof(v); return ::getsockopt(-1, SOL_SOCKET, SO_TYPE, &v, &l); }},
    {"misuse.setsockopt.fd_closed", "-1 EBADF", false, [](F f) -> long { int v = 1; return ::setsockopt(f.closed, SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v)); }},
    {"misuse.shutdown.fd_-1", "-1 EBADF", false, [](F) -> long { return ::shutdown(-1, SHUT_RDWR); }},
    {"misuse.send.fd_-1", "-1 EBADF", false, [](F) -> long { return ::send(-1, "x", 1, 0); }},
    {"misuse.send.fd_closed", "-1 EBADF", false, [](F f) -> long { return ::send(f.closed, "x", 1, 0); }},
    {"misuse.sendto.fd_-1", "-1 EBADF", false, [](F) -> long { auto a = inet_any(); return ::sendto(-1, "x", 1, 0, (sockaddr*)&a, sizeof(a)); }},
    {"misuse.sendmsg.fd_closed", "-1 EBADF", false, [](F f) -> long { msghdr m{}; return ::sendmsg(f.closed, &m, 0); }},
    {"misuse.sendmmsg.fd_-1", "-1 EBADF", false, [](F) -> long { mmsghdr m{}; return ::sendmmsg(-1, &m, 1, 0); }},
    {"misuse.recv.fd_-1", "-1 EBADF", false, [](F) -> long { char b[8]; return ::recv(-1, b, sizeof(b), 0); }},
    {"misuse.recv.fd_closed", "-1 EBADF", false, [](F f) -> long { char b[8]; return ::recv(f.closed, b, sizeof(b), MSG_DONTWAIT); }},
    {"misuse.recvfrom.fd_closed", "-1 EBADF", false, [](F f) -> long { char b[8]; return ::recvfrom(f.closed, b, sizeof(b), 0, nullptr, nullptr); }},
    {"misuse.recvmsg.fd_-1", "-1 EBADF", false, [](F) -> long { msghdr m{}; return ::recvmsg(-1, &m, 0); }},
    {"misuse.recvmmsg.fd_closed", "-1 EBADF", false, [](F f) -> long { mmsghdr m{}; return ::recvmmsg(f.closed, &m, 1, 0, nullptr); }},
    {"misuse.read.fd_closed", "-1 EBADF", false, [](F f) -> long { char b[8]; return ::read(f.closed, b, sizeof(b)); }},
    {"misuse.write.fd_-1", "-1 EBADF", false, [](F) -> long { return ::write(-1, "x", 1); }},
    {"misuse.readv.fd_closed", "-1 EBADF", false, [](F f) -> long { char b[8]; iovec v{b, sizeof(b)}; return ::readv(f.closed, &v, 1); }},
    {"misuse.writev.fd_-1", "-1 EBADF", false, [](F) -> long { iovec v{(void*)"x", 1}; return ::writev(-1, &v, 1); }},
    {"misuse.close.fd_closed", "-1 EBADF", false, [](F f) -> long { return ::close(f.closed); }},
    {"misuse.dup.fd_closed", "-1 EBADF", false, [](F f) -> long { return ::dup(f.closed); }},
    {"misuse.dup2.old_closed", "-1 EBADF", false, [](F f) -> long { return ::dup2(f.closed, 900); }},
    {"misuse.dup2.new_-1", "-1 EBADF", false, [](F f) -> long { return ::dup2(f.udp, -1); }},
    {"misuse.dup3.old_-1", "-1 EBADF", false, [](F) -> long { return ::dup3(-1, 900, 0); }},
    {"misuse.fcntl.fd_closed", "-1 EBADF", false, [](F f) -> long { return ::fcntl(f.closed, F_GETFL); }},
    {"misuse.ioctl.fd_-1", "-1 EBADF", false, [](F) -> long { int n; return ::ioctl(-1, FIONREAD, &n); }},
    {"misuse.epoll_ctl.epfd_closed", "-1 EBADF", false, [](F f) -> long { epoll_event e{}; return ::epoll_ctl(f.closed, EPOLL_CTL_ADD, f.udp, &e); }},
    {"misuse.epoll_ctl.fd_closed", "-1 EBADF", false, [](F f) -> long { epoll_event e{}; return ::epoll_ctl(f.epfd, EPOLL_CTL_ADD, f.closed, &e); }},
    {"misuse.epoll_wait.epfd_-1", "-1 EBADF", false, [](F) -> long { epoll_event e; return ::epoll_wait(-1, &e, 1, 0); }},
    {"misuse.sendfile.out_closed", "-1 EBADF", false, [](F f) -> long { return ::sendfile(f.closed, f.pipe_r, nullptr, 1); }},
    {"misuse.select.fd_closed", "-1 EBADF", false, [](F f) -> long { fd_set s; FD_ZERO(&s); FD_SET(f.closed, &s); timeval t{0, 0}; return ::select(f.closed + 1, &s, nullptr, nullptr, &t); }},
    {"misuse.poll.fd_closed_is_POLLNVAL", "1", false, [](F f) -> long { pollfd p{f.closed, POLLIN, 0}; const int n = ::poll(&p, 1, 0); return n == 1 && p.revents == POLLNVAL ? 1 : -100; }},

    // -- ENOTSOCK: a pipe where a socket belongs
    {"misuse.connect.pipe", "-1 ENOTSOCK", false, [](F f) -> long { auto a = inet_any(); return ::connect(f.pipe_r, (sockaddr*)&a, sizeof(a)); }},
    {"misuse.listen.pipe", "-1 ENOTSOCK", false, [](F f) -> long { return ::listen(f.pipe_r, 1); }},
    {"misuse.accept.pipe", "-1 ENOTSOCK", false, [](F f) -> long { return ::accept(f.pipe_r, nullptr, nullptr); }},
    {"misuse.accept4.pipe", "-1 ENOTSOCK", false, [](F f) -> long { return ::accept4(f.pipe_r, nullptr, nullptr, SOCK_NONBLOCK); }},
    {"misuse.getsockname.pipe", "-1 ENOTSOCK", false, [](F f) -> long { sockaddr_storage s; socklen_t l = sizeof(s); return ::getsockname(f.pipe_r, (sockaddr*)&s, &l); }},
    {"misuse.getpeername.pipe", "-1 ENOTSOCK", false, [](F f) -> long { sockaddr_storage s; socklen_t l = sizeof(s); return ::getpeername(f.pipe_r, (sockaddr*)&s, &l); }},
    {"misuse.setsockopt.pipe", "-1 ENOTSOCK", false, [](F f) -> long { int v = 1; return ::setsockopt(f.pipe_w, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v)); }},
    {"misuse.send.pipe", "-1 ENOTSOCK", false, [](F f) -> long { return ::send(f.pipe_w, "x", 1, 0); }},
    {"misuse.sendto.pipe", "-1 ENOTSOCK", false, [](F f) -> long { auto a = inet_any(); return ::sendto(f.pipe_w, "x", 1, 0, (sockaddr*)&a, sizeof(a)); }},
    {"misuse.sendmsg.pipe", "-1 ENOTSOCK", false, [](F f) -> long { msghdr m{}; return ::sendmsg(f.pipe_w, &m, 0); }},
    {"misuse.sendmmsg.pipe", "-1 ENOTSOCK", false, [](F f) -> long { mmsghdr m{}; return ::sendmmsg(f.pipe_w, &m, 1, 0); }},
    {"misuse.recv.pipe", "-1 ENOTSOCK", false, [](F f) -> long { char b[8]; return ::recv(f.pipe_r, b, sizeof(b), MSG_DONTWAIT); }},
    {"misuse.recvfrom.pipe", "-1 ENOTSOCK", false, [](F f) -> long { char b[8]; return ::recvfrom(f.pipe_r, b, sizeof(b), MSG_DONTWAIT, nullptr, nullptr); }},
    {"misuse.recvmsg.pipe", "-1 ENOTSOCK", false, [](F f) -> long { msghdr m{}; return ::recvmsg(f.pipe_r, &m, MSG_DONTWAIT); }},
    {"misuse.recvmmsg.pipe", "-1 ENOTSOCK", false, [](F f) -> long { mmsghdr m{}; return ::recvmmsg(f.pipe_r, &m, 1, MSG_DONTWAIT, nullptr); }},

    // -- EFAULT: pointers the kernel cannot read or write
    {"misuse.bind.addr_bad", "-1 EFAULT", false, [](F f) -> long { return ::bind(f.udp, bad_address(), sizeof(sockaddr_in)); }},
    {"misuse.connect.addr_bad", "-1 EFAULT", false, [](F f) -> long { return ::connect(f.tcp, bad_address(), sizeof(sockaddr_in)); }},
    {"misuse.getsockname.addr_bad", "-1 EFAULT", false, [](F f) -> long { socklen_t l = sizeof(sockaddr_in); return ::getsockname(f.udp, bad_address(), &l); }},
    {"misuse.getsockname.len_bad", "-1 EFAULT", false, [](F f) -> long { sockaddr_storage s; return ::getsockname(f.udp, (sockaddr*)&s, bad_length()); }},
    {"misuse.getpeername.addr_bad", "-1 EFAULT", false, [](F f) -> long { socklen_t l = sizeof(sockaddr_storage); return ::getpeername(f.unix_a, bad_address(), &l); }},
    {"misuse.getpeername.len_bad", "-1 EFAULT", false, [](F f) -> long { sockaddr_storage s; return ::getpeername(f.unix_a, (sockaddr*)&s, bad_length()); }},
    {"misuse.getsockopt.value_bad", "-1 EFAULT", false, [](F f) -> long { socklen_t l = sizeof(int); return ::getsockopt(f.udp, SOL_SOCKET, SO_RCVBUF, bad_pointer(), &l); }},
    {"misuse.getsockopt.len_bad", "-1 EFAULT", false, [](F f) -> long { int v; return ::getsockopt(f.udp, SOL_SOCKET, SO_RCVBUF, &v, bad_length()); }},
    {"misuse.getsockopt.so_error_value_bad", "-1 EFAULT", false, [](F f) -> long { socklen_t l = sizeof(int); return ::getsockopt(f.tcp, SOL_SOCKET, SO_ERROR, bad_pointer(), &l); }},
    {"misuse.setsockopt.value_bad", "-1 EFAULT", false, [](F f) -> long { return ::setsockopt(f.udp, SOL_SOCKET, SO_RCVBUF, bad_pointer(), sizeof(int)); }},
    {"misuse.setsockopt.tcp_nodelay_value_bad", "-1 EFAULT", false, [](F f) -> long { return ::setsockopt(f.tcp, IPPROTO_TCP, TCP_NODELAY, bad_pointer(), sizeof(int)); }},
    {"misuse.setsockopt.membership_value_bad", "-1 EFAULT", false, [](F f) -> long { return ::setsockopt(f.udp, IPPROTO_IP, IP_ADD_MEMBERSHIP, bad_pointer(), sizeof(ip_mreq)); }},
    {"misuse.socketpair.sv_bad", "-1 EFAULT", false, [](F) -> long { return ::socketpair(AF_UNIX, SOCK_STREAM, 0, static_cast<int*>(bad_pointer())); }},
    {"misuse.pipe.fds_bad", "-1 EFAULT", false, [](F) -> long { return ::pipe(static_cast<int*>(bad_pointer())); }},
    {"misuse.send.buf_bad", "-1 EFAULT", false, [](F f) -> long { return ::send(f.unix_a, bad_pointer(), 8, MSG_DONTWAIT); }},
    {"misuse.write.buf_bad", "-1 EFAULT", false, [](F f) -> long { return ::write(f.unix_a, bad_pointer(), 8); }},
    {"misuse.sendto.buf_bad", "-1 EFAULT", false, [](F f) -> long { return ::sendto(f.unix_a, bad_pointer(), 8, MSG_DONTWAIT, nullptr, 0); }},
    {"misuse.sendto.addr_bad", "-1 EFAULT", false, [](F f) -> long { return ::sendto(f.udp, "x", 1, 0, bad_address(), sizeof(sockaddr_in)); }},
    {"misuse.sendmsg.msg_bad", "-1 EFAULT", false, [](F f) -> long { return ::sendmsg(f.unix_a, static_cast<msghdr*>(bad_pointer()), 0); }},
    {"misuse.sendmsg.iov_bad", "-1 EFAULT", false, [](F f) -> long { msghdr m{}; m.msg_iov = static_cast<iovec*>(bad_pointer()); m.msg_iovlen = 1; return ::sendmsg(f.unix_a, &m, 0); }},
    {"misuse.sendmsg.iov_base_bad", "-1 EFAULT", false, [](F f) -> long { iovec v{bad_pointer(), 8}; msghdr m{}; m.msg_iov = &v; m.msg_iovlen = 1; return ::sendmsg(f.unix_a, &m, MSG_DONTWAIT); }},
    {"misuse.sendmsg.name_bad", "-1 EFAULT", false, [](F f) -> long { iovec v{(void*)"x", 1}; msghdr m{}; m.msg_name = bad_pointer(); m.msg_namelen = sizeof(sockaddr_in); m.msg_iov = &v; m.msg_iovlen = 1; return ::sendmsg(f.udp, &m, 0); }},
    {"misuse.sendmsg.control_bad", "-1 EFAULT", false, [](F f) -> long { iovec v{(void*)"x", 1}; msghdr m{}; m.msg_iov = &v; m.msg_iovlen = 1; m.msg_control = bad_pointer(); m.msg_controllen = 64; return ::sendmsg(f.unix_a, &m, 0); }},
    {"misuse.sendmmsg.vec_bad", "-1 EFAULT", false, [](F f) -> long { return ::sendmmsg(f.unix_a, static_cast<mmsghdr*>(bad_pointer()), 1, 0); }},
    {"misuse.writev.iov_bad", "-1 EFAULT", false, [](F f) -> long { return ::writev(f.unix_a, static_cast<iovec*>(bad_pointer()), 1); }},
    {"misuse.recv.buf_bad", "-1 EFAULT", false, [](F f) -> long { refill(f); return ::recv(f.unix_b, bad_pointer(), 8, MSG_DONTWAIT); }},
    {"misuse.read.buf_bad", "-1 EFAULT", false, [](F f) -> long { refill(f); return ::read(f.unix_b, bad_pointer(), 8); }},
    {"misuse.recvfrom.buf_bad", "-1 EFAULT", false, [](F f) -> long { refill(f); return ::recvfrom(f.unix_b, bad_pointer(), 8, MSG_DONTWAIT, nullptr, nullptr); }},
    {"misuse.recvmsg.msg_bad", "-1 EFAULT", false, [](F f) -> long { refill(f); return ::recvmsg(f.unix_b, static_cast<msghdr*>(bad_pointer()), MSG_DONTWAIT); }},
    {"misuse.recvmsg.iov_bad", "-1 EFAULT", false, [](F f) -> long { refill(f); msghdr m{}; m.msg_iov = static_cast<iovec*>(bad_pointer()); m.msg_iovlen = 1; return ::recvmsg(f.unix_b, &m, MSG_DONTWAIT); }},
    {"misuse.recvmsg.iov_base_bad", "-1 EFAULT", false, [](F f) -> long { refill(f); iovec v{bad_pointer(), 8}; msghdr m{}; m.msg_iov = &v; m.msg_iovlen = 1; return ::recvmsg(f.unix_b, &m, MSG_DONTWAIT); }},
    {"misuse.recvmmsg.vec_bad", "-1 EFAULT", false, [](F f) -> long { refill(f); return ::recvmmsg(f.unix_b, static_cast<mmsghdr*>(bad_pointer()), 1, MSG_DONTWAIT, nullptr); }},
    {"misuse.readv.iov_bad", "-1 EFAULT", false, [](F f) -> long { refill(f); return ::readv(f.unix_b, static_cast<iovec*>(bad_pointer()), 1); }},
    {"misuse.ioctl.fionread_arg_bad", "-1 EFAULT", false, [](F f) -> long { refill(f); return ::ioctl(f.unix_b, FIONREAD, bad_pointer()); }},
    {"misuse.poll.fds_bad", "-1 EFAULT", false, [](F) -> long { return ::poll(static_cast<pollfd*>(bad_pointer()), 1, 0); }},
    {"misuse.select.readfds_bad", "-1 EFAULT", false, [](F f) -> long { return ::select(f.udp + 1, static_cast<fd_set*>(bad_pointer()), nullptr, nullptr, nullptr); }},
    {"misuse.epoll_ctl.event_bad", "-1 EFAULT", false, [](F f) -> long { return ::epoll_ctl(f.epfd, EPOLL_CTL_ADD, f.unix_b, static_cast<epoll_event*>(bad_pointer())); }},
    {"misuse.epoll_wait.events_bad", "-1 EFAULT", false, [](F f) -> long { refill(f); epoll_event e{}; e.events = EPOLLIN; ::epoll_ctl(f.epfd, EPOLL_CTL_ADD, f.unix_b, &e); return ::epoll_wait(f.epfd, static_cast<epoll_event*>(bad_pointer()), 1, 0); }},
    {"misuse.sendfile.offset_bad", "-1 EFAULT", false, [](F f) -> long { return ::sendfile(f.unix_a, f.pipe_r, static_cast<off_t*>(bad_pointer()), 1); }},
    {"misuse.udp.recv_buf_bad", "-1 EFAULT", true, [](F f) -> long { refill(f); return ::recv(f.loop_rx, bad_pointer(), 8, MSG_DONTWAIT); }},
    {"misuse.udp.recvfrom_addr_bad", "-1 EFAULT", true, [](F f) -> long { refill(f); char b[8]; socklen_t l = sizeof(sockaddr_in); return ::recvfrom(f.loop_rx, b, sizeof(b), MSG_DONTWAIT, bad_address(), &l); }},
    {"misuse.udp.recvfrom_len_bad", "-1 EFAULT", true, [](F f) -> long { refill(f); char b[8]; sockaddr_in a; return ::recvfrom(f.loop_rx, b, sizeof(b), MSG_DONTWAIT, (sockaddr*)&a, bad_length()); }},
    {"misuse.udp.recvmsg_iov_base_bad", "-1 EFAULT", true, [](F f) -> long { refill(f); iovec v{bad_pointer(), 8}; msghdr m{}; m.msg_iov = &v; m.msg_iovlen = 1; return ::recvmsg(f.loop_rx, &m, MSG_DONTWAIT); }},
    {"misuse.udp.send_buf_bad", "-1 EFAULT", true, [](F f) -> long { return ::send(f.loop_tx, bad_pointer(), 8, 0); }},
    {"misuse.udp.sendmsg_iov_base_bad", "-1 EFAULT", true, [](F f) -> long { iovec v{bad_pointer(), 8}; msghdr m{}; m.msg_iov = &v; m.msg_iovlen = 1; return ::sendmsg(f.loop_tx, &m, 0); }},

    // -- bad lengths, values, flags and operations
    {"misuse.bind.len_0", "-1 EINVAL", false, [](F f) -> long { auto a = inet_any(); return ::bind(f.udp, (sockaddr*)&a, 0); }},
    {"misuse.bind.len_short", "-1 EINVAL", false, [](F f) -> long { auto a = inet_any(); return ::bind(f.udp, (sockaddr*)&a, sizeof(a) - 1); }},
    {"misuse.bind.family_inet6_on_inet", "-1 EAFNOSUPPORT", false, [](F f) -> long { sockaddr_in6 a{}; a.sin6_family = AF_INET6; return ::bind(f.udp, (sockaddr*)&a, sizeof(a)); }},
    {"misuse.bind.family_unix_on_inet", "-1 EAFNOSUPPORT", false, [](F f) -> long { sockaddr_in a{}; a.sin_family = AF_UNIX; return ::bind(f.udp, (sockaddr*)&a, sizeof(a)); }},
    {"misuse.connect.len_0", "-1 EINVAL", false, [](F f) -> long { auto a = inet_any(); return ::connect(f.tcp, (sockaddr*)&a, 0); }},
    {"misuse.connect.len_short", "-1 EINVAL", false, [](F f) -> long { auto a = inet_any(); return ::connect(f.tcp, (sockaddr*)&a, 4); }},
    {"misuse.connect.family_inet6_on_inet", "-1 EAFNOSUPPORT", false, [](F f) -> long { sockaddr_in6 a{}; a.sin6_family = AF_INET6; return ::connect(f.tcp, (sockaddr*)&a, sizeof(a)); }},
    {"misuse.sendto.len_short", "-1 EINVAL", false, [](F f) -> long { auto a = inet_any(); return ::sendto(f.udp, "x", 1, 0, (sockaddr*)&a, 3); }},
    {"misuse.sendto.udp_no_destination", "-1 EDESTADDRREQ", false, [](F f) -> long { return ::sendto(f.udp, "x", 1, 0, nullptr, 0); }},
    {"misuse.send.tcp_unconnected", "-1 EPIPE", false, [](F f) -> long { return ::send(f.tcp, "x", 1, MSG_NOSIGNAL); }},
    {"misuse.recv.tcp_unconnected", "-1 ENOTCONN", false, [](F f) -> long { char b[8]; return ::recv(f.tcp, b, sizeof(b), MSG_DONTWAIT); }},
    {"misuse.getpeername.unconnected", "-1 ENOTCONN", false, [](F f) -> long { sockaddr_storage s; socklen_t l = sizeof(s); return ::getpeername(f.udp, (sockaddr*)&s, &l); }},
    {"misuse.getsockname.len_negative", "-1 EINVAL", false, [](F f) -> long { sockaddr_storage s; socklen_t l = static_cast<socklen_t>(-1); return ::getsockname(f.udp, (sockaddr*)&s, &l); }},
    {"misuse.sendmsg.iovlen_above_IOV_MAX", "-1 EMSGSIZE", false, [](F f) -> long { static iovec v[1025]; for (auto& e : v) e = {(void*)"x", 1}; msghdr m{}; m.msg_iov = v; m.msg_iovlen = 1025; return ::sendmsg(f.unix_a, &m, MSG_DONTWAIT); }},
    {"misuse.writev.iovcnt_negative", "-1 EINVAL", false, [](F f) -> long { iovec v{(void*)"x", 1}; return ::writev(f.unix_a, &v, g_minus_one); }},
    {"misuse.readv.iovcnt_above_IOV_MAX", "-1 EINVAL", false, [](F f) -> long { static iovec v[1025]; return ::readv(f.unix_b, v, 1025); }},
    {"misuse.listen.udp", "-1 EOPNOTSUPP", false, [](F f) -> long { return ::listen(f.udp, 1); }},
    {"misuse.accept.udp", "-1 EOPNOTSUPP", false, [](F f) -> long { return ::accept(f.udp, nullptr, nullptr); }},
    {"misuse.accept.tcp_not_listening", "-1 EINVAL", false, [](F f) -> long { return ::accept(f.tcp, nullptr, nullptr); }},
    {"misuse.accept4.bad_flags", "-1 EINVAL", false, [](F f) -> long { return ::accept4(f.unix_listener, nullptr, nullptr, 0x1234); }},
    {"misuse.shutdown.how_7", "-1 EINVAL", false, [](F f) -> long { return ::shutdown(f.unix_a, 7); }},
    {"misuse.shutdown.unconnected", "-1 ENOTCONN", false, [](F f) -> long { return ::shutdown(f.tcp, SHUT_RDWR); }},
    {"misuse.socket.bad_protocol", "-1 EPROTONOSUPPORT", false, [](F) -> long { return ::socket(AF_INET, SOCK_STREAM, 99); }},
    {"misuse.socket.bad_type_flags", "-1 EINVAL", false, [](F) -> long { return ::socket(AF_INET, SOCK_DGRAM | 0x40000000, 0); }},
    {"misuse.socketpair.inet", "-1 EOPNOTSUPP", false, [](F) -> long { int sv[2]; return ::socketpair(AF_INET, SOCK_DGRAM, 0, sv); }},
    {"misuse.setsockopt.len_0", "-1 EINVAL", false, [](F f) -> long { int v = 1; return ::setsockopt(f.udp, SOL_SOCKET, SO_RCVBUF, &v, 0); }},
    {"misuse.setsockopt.len_short", "-1 EINVAL", false, [](F f) -> long { int v = 1; return ::setsockopt(f.tcp, IPPROTO_TCP, TCP_NODELAY, &v, 2); }},
    {"misuse.setsockopt.linger_len_short", "-1 EINVAL", false, [](F f) -> long { linger l{1, 0}; return ::setsockopt(f.tcp, SOL_SOCKET, SO_LINGER, &l, sizeof(int)); }},
    {"misuse.setsockopt.rcvtimeo_len_short", "-1 EINVAL", false, [](F f) -> long { timeval t{1, 0}; return ::setsockopt(f.udp, SOL_SOCKET, SO_RCVTIMEO, &t, 4); }},
    {"misuse.setsockopt.rcvtimeo_usec_out_of_range", "-1 EDOM", false, [](F f) -> long { timeval t{1, 2000000}; return ::setsockopt(f.udp, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof(t)); }},
    {"misuse.getsockopt.len_negative", "-1 EINVAL", false, [](F f) -> long { int v; socklen_t l = static_cast<socklen_t>(-1); return ::getsockopt(f.udp, SOL_SOCKET, SO_TYPE, &v, &l); }},
    {"misuse.epoll_create.size_0", "-1 EINVAL", false, [](F) -> long { return ::epoll_create(0); }},
    {"misuse.epoll_create1.bad_flags", "-1 EINVAL", false, [](F) -> long { return ::epoll_create1(0x1234); }},
    {"misuse.epoll_ctl.bad_op", "-1 EINVAL", false, [](F f) -> long { epoll_event e{}; return ::epoll_ctl(f.epfd, 99, f.udp, &e); }},
    {"misuse.epoll_ctl.self", "-1 EINVAL", false, [](F f) -> long { epoll_event e{}; return ::epoll_ctl(f.epfd, EPOLL_CTL_ADD, f.epfd, &e); }},
    {"misuse.epoll_ctl.mod_absent", "-1 ENOENT", false, [](F f) -> long { epoll_event e{}; return ::epoll_ctl(f.epfd, EPOLL_CTL_MOD, f.tcp, &e); }},
    {"misuse.epoll_ctl.not_epoll", "-1 EINVAL", false, [](F f) -> long { epoll_event e{}; return ::epoll_ctl(f.udp, EPOLL_CTL_ADD, f.tcp, &e); }},
    {"misuse.epoll_wait.maxevents_0", "-1 EINVAL", false, [](F f) -> long { epoll_event e; return ::epoll_wait(f.epfd, &e, 0, 0); }},
    {"misuse.epoll_wait.not_epoll", "-1 EINVAL", false, [](F f) -> long { epoll_event e; return ::epoll_wait(f.udp, &e, 1, 0); }},
    {"misuse.select.nfds_negative", "-1 EINVAL", false, [](F) -> long { timeval t{0, 0}; return ::select(-1, nullptr, nullptr, nullptr, &t); }},
    {"misuse.poll.nfds_above_limit", "-1 EINVAL", false, [](F) -> long { return ::poll(static_cast<pollfd*>(bad_pointer()), g_huge_nfds, 0); }},
    {"misuse.dup3.same_fd", "-1 EINVAL", false, [](F f) -> long { return ::dup3(f.udp, f.udp, 0); }},
    {"misuse.dup3.bad_flags", "-1 EINVAL", false, [](F f) -> long { return ::dup3(f.udp, 900, 0x1234); }},
    {"misuse.fcntl.bad_cmd", "-1 EINVAL", false, [](F f) -> long { return ::fcntl(f.udp, 9999); }},
    {"misuse.ioctl.bad_request", "-1 ENOTTY", false, [](F f) -> long { int v; return ::ioctl(f.udp, 0x7fff, &v); }},
    {"misuse.recvmmsg.timeout_nsec_negative", "-1 EINVAL", false, [](F f) -> long { mmsghdr m{}; timespec t{0, -1}; return ::recvmmsg(f.unix_b, &m, 1, 0, &t); }},

    // -- unknown options
    {"misuse.getsockopt.sol_socket_unknown", "-1 ENOPROTOOPT", false, [](F f) -> long { int v; socklen_t l = sizeof(v); return ::getsockopt(f.udp, SOL_SOCKET, 9999, &v, &l); }},
    {"misuse.setsockopt.sol_socket_unknown", "-1 ENOPROTOOPT", false, [](F f) -> long { int v = 1; return ::setsockopt(f.udp, SOL_SOCKET, 9999, &v, sizeof(v)); }},
    {"misuse.getsockopt.ip_unknown", "-1 ENOPROTOOPT", false, [](F f) -> long { int v; socklen_t l = sizeof(v); return ::getsockopt(f.udp, IPPROTO_IP, 9999, &v, &l); }},
    {"misuse.setsockopt.ip_unknown", "-1 ENOPROTOOPT", false, [](F f) -> long { int v = 1; return ::setsockopt(f.udp, IPPROTO_IP, 9999, &v, sizeof(v)); }},
    {"misuse.getsockopt.tcp_unknown", "-1 ENOPROTOOPT", false, [](F f) -> long { int v; socklen_t l = sizeof(v); return ::getsockopt(f.tcp, IPPROTO_TCP, 9999, &v, &l); }},
    {"misuse.setsockopt.tcp_level_on_udp", "-1 ENOPROTOOPT", false, [](F f) -> long { int v = 1; return ::setsockopt(f.udp, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)); }},
    {"misuse.getsockopt.udp_unknown", "-1 ENOPROTOOPT", false, [](F f) -> long { int v; socklen_t l = sizeof(v); return ::getsockopt(f.udp, IPPROTO_UDP, 9999, &v, &l); }},
    {"misuse.setsockopt.ipv6_level_on_inet", "-1 ENOPROTOOPT", false, [](F f) -> long { int v = 1; return ::setsockopt(f.udp, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v)); }},
    {"misuse.getsockopt.unknown_level", "-1 EOPNOTSUPP", false, [](F f) -> long { int v; socklen_t l = sizeof(v); return ::getsockopt(f.udp, 12345, 1, &v, &l); }},
    {"misuse.setsockopt.unknown_level_tcp", "-1 ENOPROTOOPT", false, [](F f) -> long { int v = 1; return ::setsockopt(f.tcp, 12345, 1, &v, sizeof(v)); }},
};
static_assert(std::size(kMisuseRows) >= 100, "the misuse table promises at least 100 bad calls");

void misuse_rows(bool network) {
    MisuseFixture f;
    int p[2];
    if (::pipe(p) != 0) std::abort();
    f.pipe_r = p[0];
    f.pipe_w = p[1];
    f.udp = ::socket(AF_INET, SOCK_DGRAM, 0);
    f.tcp = ::socket(AF_INET, SOCK_STREAM, 0);
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) std::abort();
    f.unix_a = sv[0];
    f.unix_b = sv[1];
    f.unix_listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un listen_at{};  // autobind: an abstract address of its own
    listen_at.sun_family = AF_UNIX;
    (void)::bind(f.unix_listener, reinterpret_cast<sockaddr*>(&listen_at), sizeof(sa_family_t));
    (void)::listen(f.unix_listener, 1);
    f.epfd = ::epoll_create1(0);
    if (network) {
        socklen_t len = 0;
        sockaddr_storage at = loopback_any_port(AF_INET, &len);
        f.loop_rx = ::socket(AF_INET, SOCK_DGRAM, 0);
        f.loop_tx = ::socket(AF_INET, SOCK_DGRAM, 0);
        (void)::bind(f.loop_rx, reinterpret_cast<sockaddr*>(&at), len);
        (void)::getsockname(f.loop_rx, reinterpret_cast<sockaddr*>(&at), &len);
        (void)::connect(f.loop_tx, reinterpret_cast<sockaddr*>(&at), len);
    }
    // Opened and closed last: rows run in children, so no row's descriptor
    // can take the number over for the next. Low, so select() sees it (it
    // ignores numbers beyond the process's descriptor table).
    f.closed = ::dup(f.udp);
    ::close(f.closed);
    // Each row runs in a child of its own: a row that crashes its process
    // shows as that row's result ("killed by SIGSEGV") and the rest still run.
    size_t run = 0;
    std::fflush(stdout);
    for (const auto& r : kMisuseRows) {
        if (r.needs_network && !network) continue;
        ++run;
        const pid_t child = ::fork();
        if (child < 0) std::abort();
        if (child == 0) {
            g_mismatches = 0;
            check(r.name, r.want, [&] { return r.call(f); });
            std::fflush(stdout);
            ::_exit(g_mismatches == 0 ? 0 : 1);
        }
        int status = 0;
        ::waitpid(child, &status, 0);
        if (WIFSIGNALED(status)) {
            const char* signal_name = sigabbrev_np(WTERMSIG(status));
            row(r.name, std::string("killed by SIG") + (signal_name ? signal_name : "?"), r.want);
        } else if (WEXITSTATUS(status) != 0) {
            ++g_mismatches;  // the child printed the row and its mismatch
        }
    }
    std::printf("# misuse table: %zu bad calls\n", run);
    for (int fd : {f.pipe_r, f.pipe_w, f.udp, f.tcp, f.unix_a, f.unix_b, f.unix_listener, f.epfd,
                   f.loop_rx, f.loop_tx})
        if (fd >= 0) ::close(fd);
}


}  // namespace

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    const bool network = enter_private_network();
    rows_without_network();
    misuse_rows(network);
    if (network) {
        tcp_rows(AF_INET, "tcp4");
        tcp_rows(AF_INET6, "tcp6");
        udp_rows(AF_INET, "udp4");
        udp_rows(AF_INET6, "udp6");
    } else {
        std::printf(
            "# no private network namespace (needs root or user namespaces): IP rows skipped\n");
        const char* require = std::getenv("XLANE_REQUIRE_PRIV");
        if (require != nullptr && std::strcmp(require, "1") == 0) {
            std::printf("XLANE_REQUIRE_PRIV=1 forbids skipping rows\n");
            return 1;
        }
    }
    std::printf("# %d mismatches\n", g_mismatches);
    return g_mismatches == 0 ? 0 : 1;
}
