// Test main of the readiness tests: a private network namespace (from a user
// namespace when not root) with lo up, so loopback datagrams touch nothing
// outside the test; exit 77 (skipped) when no namespace can be made.
#define CATCH_CONFIG_RUNNER
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>

namespace {

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

int main(int argc, char* argv[]) {
    // Before any thread exists: unshare(CLONE_NEWUSER) needs a single thread.
    if (!enter_private_network()) {
        std::fprintf(stderr, "SKIP: cannot make a private network namespace\n");
        return 77;
    }
    return Catch::Session().run(argc, argv);
}
