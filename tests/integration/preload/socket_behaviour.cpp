// A table of socket calls, good and bad, each printed as one line "row: result".
// ctest runs it with and without LD_PRELOAD=libxlane.so and requires identical
// output; each row also carries the result Linux documents, so a row that
// changes under either run fails on its own. IP rows run over 127.0.0.1/::1 in
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
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

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

// A private network namespace with lo up: the IP rows then touch nothing but
// addresses of their own. Falls back to a user namespace when not root.
bool enter_private_network() {
    if (::unshare(CLONE_NEWNET) != 0 && ::unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) return false;
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    bool up = ::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
    ifr.ifr_flags |= IFF_UP;
    up = up && ::ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
    ::close(fd);
    return up;
}

}  // namespace

int main() {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    const bool network = enter_private_network();
    rows_without_network();
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
