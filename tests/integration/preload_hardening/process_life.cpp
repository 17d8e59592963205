// Process-life checks for programs running under LD_PRELOAD=libxlane.so:
// signals (default SIGINT/SIGTERM kill a program blocked in a socket call;
// EINTR without SA_RESTART, restart with it, poll/epoll always EINTR; SIGPIPE
// and EPIPE), process creation (fork+exec, vfork+exec, posix_spawn,
// system(), daemon(), sockets shared across fork) and descriptor
// exhaustion (EMFILE from socket/accept/dup/..., never an abort).
//
// Every check runs in a child process of its own, so a check that kills or
// hangs its process cannot take the others with it. Output is one line per
// check, "ok NAME" or "FAIL NAME: why", identical with and without the
// library (process_life.sh compares the two runs). The "preload:" line on
// stderr says whether libxlane.so is mapped.
//
// Runs in a private network namespace with lo up (process_life.sh sets it
// up); with XL_HARDENING_ADDR set (an address of an interface where xlane is
// attached, as udp_engine.sh builds), UDP checks use that address instead of
// 127.0.0.1, so they also cover accelerated sockets once those exist.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using namespace std::chrono_literals;

// A check's verdict travels as the child's exit status: 0 ok, else a line
// written to the report pipe explains it.
int g_report_fd = -1;

[[noreturn]] void fail(const std::string& why) {
    const std::string line = why + "\n";
    if (g_report_fd >= 0) (void)!::write(g_report_fd, line.data(), line.size());
    ::_exit(1);
}

void require(bool condition, const std::string& what) {
    if (!condition)
        fail(what + " (errno " + std::to_string(errno) + " " + std::strerror(errno) + ")");
}

// Hang guard inside every check: a blocked call that should have returned
// is killed by SIGALRM and shows as "killed by signal 14".
constexpr unsigned kCheckSeconds = 10;

std::string local_address() {
    const char* a = std::getenv("XL_HARDENING_ADDR");
    return a && *a ? a : "127.0.0.1";
}

sockaddr_in address(uint16_t port) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    ::inet_pton(AF_INET, local_address().c_str(), &sa.sin_addr);
    return sa;
}

// A bound UDP socket on an ephemeral port, and its address.
int udp_socket(sockaddr_in& bound) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    require(fd >= 0, "socket(UDP)");
    bound = address(0);
    require(::bind(fd, reinterpret_cast<sockaddr*>(&bound), sizeof(bound)) == 0, "bind(UDP)");
    socklen_t len = sizeof(bound);
    require(::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) == 0, "getsockname");
    return fd;
}

int tcp_listener(sockaddr_in& bound) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    require(fd >= 0, "socket(TCP)");
    bound = address(0);
    require(::bind(fd, reinterpret_cast<sockaddr*>(&bound), sizeof(bound)) == 0, "bind(TCP)");
    require(::listen(fd, 8) == 0, "listen");
    socklen_t len = sizeof(bound);
    require(::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) == 0, "getsockname");
    return fd;
}

int tcp_connect(const sockaddr_in& to) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    require(fd >= 0, "socket(TCP client)");
    require(::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) == 0, "connect");
    return fd;
}

// True once thread `tid` of this process sleeps inside a system call that
// waits for sockets or descriptors (read, poll, select, accept, recv*,
// epoll_wait, ...), per /proc/self/task/TID/syscall.
bool blocked_in_wait(pid_t pid, pid_t tid) {
    static const std::set<long> kWaits = {
        SYS_read,    SYS_poll,       SYS_select,   SYS_accept,       SYS_recvfrom,
        SYS_recvmsg, SYS_epoll_wait, SYS_pselect6, SYS_ppoll,        SYS_epoll_pwait,
        SYS_accept4, SYS_recvmmsg,   SYS_readv,    SYS_epoll_pwait2,
    };
    std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/syscall");
    std::string first;
    if (!(in >> first) || first == "running") return false;
    char* end = nullptr;
    const long nr = std::strtol(first.c_str(), &end, 10);
    return end != first.c_str() && kWaits.count(nr) != 0;
}

void wait_until_blocked(pid_t pid, pid_t tid) {
    for (int i = 0; i < 5000; ++i) {
        if (blocked_in_wait(pid, tid)) {
            std::this_thread::sleep_for(20ms);  // let it settle in the wait
            return;
        }
        std::this_thread::sleep_for(1ms);
    }
    fail("the thread never blocked in a wait");
}

struct ChildResult {
    int status = 0;   // from waitpid
    std::string why;  // what the child reported before failing
};

// Runs `body` in a child process with the hang guard.
ChildResult in_child(const std::function<void()>& body) {
    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0) return {-1, "pipe2 failed"};
    const pid_t pid = ::fork();
    if (pid < 0) return {-1, "fork failed"};
    if (pid == 0) {
        ::close(report[0]);
        g_report_fd = report[1];
        ::alarm(kCheckSeconds);
        body();
        ::_exit(0);
    }
    ::close(report[1]);
    ChildResult result;
    char buffer[512];
    ssize_t n;
    while ((n = ::read(report[0], buffer, sizeof(buffer))) > 0)
        result.why.append(buffer, size_t(n));
    ::close(report[0]);
    ::waitpid(pid, &result.status, 0);
    while (!result.why.empty() && result.why.back() == '\n') result.why.pop_back();
    return result;
}

std::string describe(const ChildResult& r) {
    std::string out = r.why;
    if (WIFSIGNALED(r.status))
        out += (out.empty() ? "" : "; ") + std::string("killed by signal ") +
               std::to_string(WTERMSIG(r.status));
    else if (out.empty())
        out = "exit status " + std::to_string(WEXITSTATUS(r.status));
    return out;
}

int g_failures = 0;

void report(const std::string& name, bool ok, const std::string& why) {
    if (ok) {
        std::printf("ok %s\n", name.c_str());
    } else {
        std::printf("FAIL %s: %s\n", name.c_str(), why.c_str());
        ++g_failures;
    }
    std::fflush(stdout);
}

// `body` must return (or _exit(0)).
void check(const std::string& name, const std::function<void()>& body) {
    const ChildResult r = in_child(body);
    report(name, WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, describe(r));
}

// `body` must end its process through signal `sig`.
void check_killed_by(const std::string& name, int sig, const std::function<void()>& body) {
    const ChildResult r = in_child(body);
    report(name, WIFSIGNALED(r.status) && WTERMSIG(r.status) == sig, describe(r));
}

// ---- blocking calls the signal checks interrupt ----------------------------

// One blocking call on fresh sockets, and how to make it return normally.
struct BlockingCall {
    const char* name;
    // Sets up, then blocks; returns the call's result (errno kept).
    std::function<long()> block;
    // Makes the blocked call return successfully (data, a connection).
    std::function<void()> satisfy;
};

std::vector<BlockingCall> blocking_calls() {
    // Shared state lives in statics: each check runs in its own child.
    static int udp = -1, listener = -1, epfd = -1, tcp_server = -1, tcp_client = -1;
    static sockaddr_in udp_addr{}, tcp_addr{};
    auto send_datagram = [] {
        const int s = ::socket(AF_INET, SOCK_DGRAM, 0);
        (void)::sendto(s, "x", 1, 0, reinterpret_cast<const sockaddr*>(&udp_addr),
                       sizeof(udp_addr));
        ::close(s);
    };
    return {
        {"recv(UDP)",
         [] {
             udp = udp_socket(udp_addr);
             char b[8];
             return long(::recv(udp, b, sizeof(b), 0));
         },
         send_datagram},
        {"recvfrom(UDP)",
         [] {
             udp = udp_socket(udp_addr);
             char b[8];
             sockaddr_in from{};
             socklen_t len = sizeof(from);
             return long(
                 ::recvfrom(udp, b, sizeof(b), 0, reinterpret_cast<sockaddr*>(&from), &len));
         },
         send_datagram},
        {"read(TCP)",
         [] {
             listener = tcp_listener(tcp_addr);
             tcp_client = tcp_connect(tcp_addr);
             tcp_server = ::accept(listener, nullptr, nullptr);
             char b[8];
             return long(::read(tcp_server, b, sizeof(b)));
         },
         [] { (void)::write(tcp_client, "x", 1); }},
        {"accept(TCP)",
         [] {
             listener = tcp_listener(tcp_addr);
             return long(::accept(listener, nullptr, nullptr));
         },
         [] { tcp_client = tcp_connect(tcp_addr); }},
        {"poll(UDP)",
         [] {
             udp = udp_socket(udp_addr);
             pollfd p{udp, POLLIN, 0};
             return long(::poll(&p, 1, -1));
         },
         send_datagram},
        {"epoll_wait(UDP)",
         [] {
             udp = udp_socket(udp_addr);
             epfd = ::epoll_create1(0);
             epoll_event ev{};
             ev.events = EPOLLIN;
             ev.data.fd = udp;
             (void)::epoll_ctl(epfd, EPOLL_CTL_ADD, udp, &ev);
             epoll_event out{};
             return long(::epoll_wait(epfd, &out, 1, -1));
         },
         send_datagram},
        {"select(UDP)",
         [] {
             udp = udp_socket(udp_addr);
             fd_set set;
             FD_ZERO(&set);
             FD_SET(udp, &set);
             return long(::select(udp + 1, &set, nullptr, nullptr, nullptr));
         },
         send_datagram},
    };
}

// Calls Linux restarts after a SA_RESTART handler; poll, epoll_wait and
// select always fail with EINTR (signal(7)).
bool restarts(const std::string& name) {
    return name.rfind("poll", 0) != 0 && name.rfind("epoll", 0) != 0 &&
           name.rfind("select", 0) != 0;
}

volatile sig_atomic_t g_handled = 0;
void count_signal(int) {
    g_handled = g_handled + 1;
}

void signal_checks() {
    // Default disposition: SIGINT and SIGTERM end a program blocked in a call at once.
    for (int sig : {SIGINT, SIGTERM}) {
        for (const auto& call : blocking_calls()) {
            check(std::string("default ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + " ends " +
                      call.name,
                  [&] {
                      const pid_t victim = ::fork();
                      require(victim >= 0, "fork");
                      if (victim == 0) {
                          ::alarm(kCheckSeconds);  // alarms do not survive fork: a guard of its own
                          ::signal(sig, SIG_DFL);
                          (void)call.block();
                          ::_exit(0);  // returned instead of dying: the parent sees exit 0
                      }
                      wait_until_blocked(victim, victim);
                      require(::kill(victim, sig) == 0, "kill");
                      int status = 0;
                      // Prompt: the signal ends it long before the hang guard (kCheckSeconds).
                      require(::waitpid(victim, &status, 0) == victim, "waitpid");
                      if (!WIFSIGNALED(status) || WTERMSIG(status) != sig)
                          fail("the blocked program was not killed by the signal (status " +
                               std::to_string(status) + ")");
                  });
        }
    }

    // A handler without SA_RESTART interrupts every blocking call (EINTR);
    // with SA_RESTART, reads and accepts restart and complete, poll-like calls still fail.
    for (bool restart : {false, true}) {
        for (const auto& call : blocking_calls()) {
            const bool expect_restart = restart && restarts(call.name);
            check(std::string(restart ? "SA_RESTART " : "no SA_RESTART ") + call.name +
                      (expect_restart ? " restarts" : " fails with EINTR"),
                  [&] {
                      struct sigaction sa {};
                      sa.sa_handler = count_signal;
                      sa.sa_flags = restart ? SA_RESTART : 0;
                      sigemptyset(&sa.sa_mask);
                      require(::sigaction(SIGUSR1, &sa, nullptr) == 0, "sigaction");
                      const pid_t pid = ::getpid();
                      const pthread_t main_thread = ::pthread_self();
                      const pid_t main_tid = static_cast<pid_t>(::syscall(SYS_gettid));
                      std::thread helper([&] {
                          wait_until_blocked(pid, main_tid);
                          ::pthread_kill(main_thread, SIGUSR1);
                          if (expect_restart) {
                              // Once the handler ran, the call is back in its wait.
                              while (g_handled == 0) std::this_thread::sleep_for(1ms);
                              wait_until_blocked(pid, main_tid);
                              call.satisfy();
                          }
                      });
                      errno = 0;
                      const long result = call.block();
                      const int error = errno;
                      helper.join();
                      require(g_handled == 1, "the handler ran once");
                      if (expect_restart) {
                          if (result < 0)
                              fail("returned -1 errno " + std::to_string(error) +
                                   " instead of restarting");
                      } else if (result != -1 || error != EINTR) {
                          fail("returned " + std::to_string(result) + " errno " +
                               std::to_string(error) + ", expected -1 EINTR");
                      }
                  });
        }
    }
}

// ---- SIGPIPE and EPIPE -------------------------------------------------------

// A TCP connection whose peer has closed and reset it: the next send fails.
int broken_connection() {
    sockaddr_in at{};
    const int listener = tcp_listener(at);
    const int client = tcp_connect(at);
    const int server = ::accept(listener, nullptr, nullptr);
    require(server >= 0, "accept");
    ::close(server);  // FIN to the client
    ::close(listener);
    // The first send reaches the closed peer, which answers RST; wait for it,
    // then take the pending socket error, so the next send meets a
    // connection shut for sending (EPIPE) whatever state the RST found.
    (void)::send(client, "x", 1, MSG_NOSIGNAL);
    pollfd p{client, POLLIN, 0};
    for (int i = 0; i < 200 && !(p.revents & (POLLHUP | POLLERR)); ++i) {
        p.revents = 0;
        (void)::poll(&p, 1, 10);
    }
    require(p.revents & (POLLHUP | POLLERR), "the peer's RST arrived");
    int error = 0;
    socklen_t len = sizeof(error);
    require(::getsockopt(client, SOL_SOCKET, SO_ERROR, &error, &len) == 0, "SO_ERROR");
    return client;
}

void sigpipe_checks() {
    check_killed_by("send to a reset TCP peer raises SIGPIPE", SIGPIPE, [] {
        const int fd = broken_connection();
        ::signal(SIGPIPE, SIG_DFL);
        (void)::send(fd, "y", 1, 0);
        fail("send returned instead of the process dying by SIGPIPE");
    });
    check_killed_by("write to a reset TCP peer raises SIGPIPE", SIGPIPE, [] {
        const int fd = broken_connection();
        ::signal(SIGPIPE, SIG_DFL);
        (void)::write(fd, "y", 1);
        fail("write returned instead of the process dying by SIGPIPE");
    });
    check("send with MSG_NOSIGNAL to a reset TCP peer fails with EPIPE", [] {
        const int fd = broken_connection();
        ::signal(SIGPIPE, SIG_DFL);
        errno = 0;
        const ssize_t n = ::send(fd, "y", 1, MSG_NOSIGNAL);
        if (n != -1 || errno != EPIPE)
            fail("send returned " + std::to_string(n) + " errno " + std::to_string(errno));
    });
    check("send with SIGPIPE ignored fails with EPIPE", [] {
        const int fd = broken_connection();
        ::signal(SIGPIPE, SIG_IGN);
        errno = 0;
        const ssize_t n = ::send(fd, "y", 1, 0);
        if (n != -1 || errno != EPIPE)
            fail("send returned " + std::to_string(n) + " errno " + std::to_string(errno));
    });
    check("sendmsg to a reset TCP peer with a SIGPIPE handler runs it and fails with EPIPE", [] {
        const int fd = broken_connection();
        struct sigaction sa {};
        sa.sa_handler = count_signal;
        sigemptyset(&sa.sa_mask);
        require(::sigaction(SIGPIPE, &sa, nullptr) == 0, "sigaction");
        char byte = 'y';
        iovec iov{&byte, 1};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        errno = 0;
        const ssize_t n = ::sendmsg(fd, &msg, 0);
        if (n != -1 || errno != EPIPE) fail("sendmsg returned " + std::to_string(n));
        require(g_handled == 1, "the SIGPIPE handler ran once");
    });
}

// ---- process creation --------------------------------------------------------

int exit_status_of(pid_t pid) {
    int status = 0;
    require(::waitpid(pid, &status, 0) == pid, "waitpid");
    if (!WIFEXITED(status))
        fail("child did not exit normally (status " + std::to_string(status) + ")");
    return WEXITSTATUS(status);
}

void spawn_checks() {
    check("fork then exec of a non-network program", [] {
        const pid_t pid = ::fork();
        require(pid >= 0, "fork");
        if (pid == 0) {
            ::execl("/bin/sh", "sh", "-c", "exit 7", static_cast<char*>(nullptr));
            ::_exit(127);
        }
        require(exit_status_of(pid) == 7, "exit status 7 from sh");
    });
    check("vfork then exec", [] {
        const pid_t pid = ::vfork();
        require(pid >= 0, "vfork");
        if (pid == 0) {
            ::execl("/bin/sh", "sh", "-c", "exit 5", static_cast<char*>(nullptr));
            ::_exit(127);
        }
        require(exit_status_of(pid) == 5, "exit status 5 from sh");
    });
    check("posix_spawn", [] {
        pid_t pid = 0;
        char* const argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"),
                              const_cast<char*>("exit 9"), nullptr};
        require(::posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, environ) == 0,
                "posix_spawn");
        require(exit_status_of(pid) == 9, "exit status 9 from sh");
    });
    check("system()", [] {
        const int status = ::system("exit 3");
        require(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 3, "system() status 3");
    });
    check("daemon() child keeps working (sockets too)", [] {
        int done[2];
        require(::pipe(done) == 0, "pipe");
        const pid_t pid = ::fork();
        require(pid >= 0, "fork");
        if (pid == 0) {
            ::close(done[0]);
            if (::daemon(1, 1) != 0) ::_exit(2);
            // Now a session leader's orphan: it can still make sockets and talk.
            sockaddr_in a{}, b{};
            const int sa = udp_socket(a), sb = udp_socket(b);
            char byte = 'd';
            if (::sendto(sa, &byte, 1, 0, reinterpret_cast<sockaddr*>(&b), sizeof(b)) != 1)
                ::_exit(3);
            if (::recv(sb, &byte, 1, 0) != 1) ::_exit(4);
            (void)!::write(done[1], &byte, 1);
            ::_exit(0);
        }
        ::close(done[1]);
        require(exit_status_of(pid) == 0, "daemon()'s first process exits 0");
        char byte = 0;
        require(::read(done[0], &byte, 1) == 1 && byte == 'd',
                "the daemon sent and received a datagram");
    });
    check("a socket shared across fork: the child's close leaves the parent's open", [] {
        sockaddr_in a{};
        const int fd = udp_socket(a);
        const pid_t pid = ::fork();
        require(pid >= 0, "fork");
        if (pid == 0) {
            ::close(fd);
            ::_exit(0);
        }
        require(exit_status_of(pid) == 0, "child");
        char byte = 'p';
        require(::sendto(fd, &byte, 1, 0, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 1,
                "sendto self");
        require(::recv(fd, &byte, 1, 0) == 1, "recv after the child's close");
    });
    check("a socket shared across fork: both processes receive from it", [] {
        sockaddr_in a{};
        const int fd = udp_socket(a);
        const int sender = ::socket(AF_INET, SOCK_DGRAM, 0);
        for (char c : {'1', '2'})
            require(::sendto(sender, &c, 1, 0, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 1,
                    "sendto");
        const pid_t pid = ::fork();
        require(pid >= 0, "fork");
        if (pid == 0) {
            char c = 0;
            ::_exit(::recv(fd, &c, 1, 0) == 1 && c == '1' ? 0 : 1);
        }
        require(exit_status_of(pid) == 0, "the child read the first datagram");
        char c = 0;
        require(::recv(fd, &c, 1, 0) == 1 && c == '2', "the parent read the second datagram");
    });
}

// ---- descriptor exhaustion ------------------------------------------------------

void exhaustion_checks() {
    // Each call that makes a descriptor, at RLIMIT_NOFILE: -1 EMFILE, no abort.
    struct Maker {
        const char* name;
        std::function<int(int listener, int any_fd)> make;
    };
    const std::vector<Maker> makers = {
        {"socket", [](int, int) { return ::socket(AF_INET, SOCK_DGRAM, 0); }},
        {"socket(TCP)", [](int, int) { return ::socket(AF_INET, SOCK_STREAM, 0); }},
        {"socketpair",
         [](int, int) {
             int sv[2];
             return ::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
         }},
        {"accept", [](int l, int) { return ::accept(l, nullptr, nullptr); }},
        {"accept4", [](int l, int) { return ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC); }},
        {"dup", [](int, int fd) { return ::dup(fd); }},
        {"fcntl(F_DUPFD)", [](int, int fd) { return ::fcntl(fd, F_DUPFD, 0); }},
        {"epoll_create1", [](int, int) { return ::epoll_create1(0); }},
        {"pipe",
         [](int, int) {
             int p[2];
             return ::pipe(p);
         }},
    };
    for (const auto& maker : makers) {
        check(std::string("RLIMIT_NOFILE reached: ") + maker.name + " fails with EMFILE", [&] {
            sockaddr_in at{};
            const int listener = tcp_listener(at);
            const int client = tcp_connect(at);  // waits in the backlog for accept
            (void)client;
            rlimit limit{64, 64};
            require(::setrlimit(RLIMIT_NOFILE, &limit) == 0, "setrlimit");
            std::vector<int> held;
            for (;;) {
                const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
                if (fd < 0) {
                    require(errno == EMFILE, "filling the table: socket fails with EMFILE");
                    break;
                }
                held.push_back(fd);
                require(held.size() < 100, "socket kept succeeding past RLIMIT_NOFILE");
            }
            errno = 0;
            const int r = maker.make(listener, held.front());
            if (r != -1 || errno != EMFILE)
                fail(std::string(maker.name) + " returned " + std::to_string(r) + " errno " +
                     std::to_string(errno) + ", expected -1 EMFILE");
            // One descriptor freed: the same call succeeds again.
            ::close(held.back());
            held.pop_back();
            const int again = maker.make(listener, held.front());
            if (std::string(maker.name) == "socketpair" || std::string(maker.name) == "pipe")
                require(again == -1 && errno == EMFILE, "a pair still needs two descriptors");
            else
                require(again >= 0, "after close, the call succeeds again");
        });
    }
}

bool library_mapped() {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line))
        if (line.find("libxlane") != std::string::npos) return true;
    return false;
}

}  // namespace

int main(int argc, char** argv) {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    std::fprintf(stderr, "preload: %s\n", library_mapped() ? "libxlane" : "none");
    const std::string only = argc > 1 ? argv[1] : "";
    if (only.empty() || only == "signals") signal_checks();
    if (only.empty() || only == "sigpipe") sigpipe_checks();
    if (only.empty() || only == "spawn") spawn_checks();
    if (only.empty() || only == "exhaustion") exhaustion_checks();
    return g_failures == 0 ? 0 : 1;
}
