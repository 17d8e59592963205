// VethHosts: unshare() for each namespace, `ip` run in a forked child that
// setns()es into the namespace (no names under /run/netns to clean up).
#include "veth_hosts.h"

#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace xlane::test {

namespace {
constexpr auto kCommandTimeout = std::chrono::seconds(10);

Result<UniqueFd> enter_new_netns() {
    if (::unshare(CLONE_NEWNET) != 0)
        return errno_error("unshare(CLONE_NEWNET) failed (needs CAP_SYS_ADMIN)");
    UniqueFd fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!fd) return errno_error("cannot open the new network namespace");
    return fd;
}
}  // namespace

Result<std::unique_ptr<VethHosts>> VethHosts::create() {
    std::unique_ptr<VethHosts> hosts(new VethHosts());
    hosts->original_.reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!hosts->original_) return errno_error("cannot open this thread's network namespace");
    auto b = enter_new_netns();
    if (!b) return b.error();
    hosts->netns_b_ = std::move(b).value();
    auto a = enter_new_netns();  // the destructor returns to original_
    if (!a) return a.error();
    hosts->netns_a_ = std::move(a).value();

    const std::string pid = std::to_string(::getpid());
    hosts->if_a_ = "nra" + pid;
    hosts->if_b_ = "nrb" + pid;
    const std::string b_path = "/proc/" + pid + "/fd/" + std::to_string(hosts->netns_b_.get());
    // No DAD: the kernel solicits IPv6 neighbours from the link-local
    // address, and sends nothing while that address is still tentative.
    const std::string no_dad =
        "sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 && ";
    if (auto done = hosts->run_in_b(no_dad + "true"); !done) return done.error();
    const std::string setup_a = no_dad + "ip link set lo up && ip link add " + hosts->if_a_ +
                                " type veth peer name " + hosts->if_b_ + " netns " + b_path +
                                " && ip addr add 198.18.0.1/24 dev " + hosts->if_a_ +
                                " && ip addr add fd00:198:18::1/64 dev " + hosts->if_a_ +
                                " nodad && ip link set " + hosts->if_a_ + " up";
    if (auto done = hosts->run_in_a(setup_a); !done) return done.error();
    const std::string setup_b = "ip link set lo up && ip addr add 198.18.0.2/24 dev " +
                                hosts->if_b_ + " && ip addr add fd00:198:18::2/64 dev " +
                                hosts->if_b_ + " nodad && ip link set " + hosts->if_b_ + " up";
    if (auto done = hosts->run_in_b(setup_b); !done) return done.error();
    hosts->ifindex_a_ = ::if_nametoindex(hosts->if_a_.c_str());
    if (hosts->ifindex_a_ == 0) return errno_error("no " + hosts->if_a_ + " in namespace A");
    return hosts;
}

VethHosts::~VethHosts() {
    if (original_ && ::setns(original_.get(), CLONE_NEWNET) != 0)
        std::perror("VethHosts: cannot return to the original network namespace");
}

Result<std::string> VethHosts::run_in_a(const std::string& command) const {
    return run_in(netns_a_.get(), command);
}

Result<std::string> VethHosts::run_in_b(const std::string& command) const {
    return run_in(netns_b_.get(), command);
}

Result<std::string> VethHosts::run_in(int netns_fd, const std::string& command) const {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return errno_error("pipe2 failed");
    UniqueFd read_end(out[0]);
    UniqueFd write_end(out[1]);
    const pid_t child = ::fork();
    if (child < 0) return errno_error("fork failed");
    if (child == 0) {
        ::dup2(write_end.get(), STDOUT_FILENO);
        ::dup2(write_end.get(), STDERR_FILENO);
        if (::setns(netns_fd, CLONE_NEWNET) != 0) ::_exit(126);
        ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    write_end.reset();
    std::string output;
    const auto deadline = std::chrono::steady_clock::now() + kCommandTimeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd pfd{read_end.get(), POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) break;
        char chunk[512];
        const ssize_t n = ::read(read_end.get(), chunk, sizeof(chunk));
        if (n <= 0) break;  // EOF: the command is done
        output.append(chunk, static_cast<size_t>(n));
    }
    int status = 0;
    pid_t reaped = 0;
    // EOF comes just before the exit: wait for it, still bounded.
    while ((reaped = ::waitpid(child, &status, WNOHANG)) == 0 &&
           std::chrono::steady_clock::now() < deadline)
        ::usleep(1000);
    if (reaped == 0) {
        ::kill(child, SIGKILL);
        ::waitpid(child, &status, 0);
        return make_error(ETIMEDOUT, "`" + command + "` did not finish: " + output);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return make_error(
            0, "`" + command + "` failed (status " + std::to_string(status) + "): " + output);
    return output;
}

Result<std::string> VethHosts::mac_of_b() const {
    auto shown = run_in_b("ip -o link show dev " + if_b_);
    if (!shown) return shown.error();
    const std::string marker = "link/ether ";
    const size_t at = shown.value().find(marker);
    if (at == std::string::npos || at + marker.size() + 17 > shown.value().size())
        return make_error(0, "no MAC in `ip link` output: " + shown.value());
    return shown.value().substr(at + marker.size(), 17);
}

}  // namespace xlane::test
