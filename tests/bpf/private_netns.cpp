// PrivateNetns: unshare/setns and the loopback bring-up through SIOCSIFFLAGS.
#include "private_netns.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstring>

namespace xlane::test {

Result<std::unique_ptr<PrivateNetns>> PrivateNetns::enter() {
    std::unique_ptr<PrivateNetns> ns(new PrivateNetns());
    ns->original_.reset(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!ns->original_) return errno_error("cannot open /proc/self/ns/net");
    if (::unshare(CLONE_NEWNET) != 0)
        return errno_error("unshare(CLONE_NEWNET) failed (needs CAP_SYS_ADMIN)");

    UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!sock) return errno_error("cannot open a socket in the private namespace");
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) != 0) return errno_error("SIOCGIFFLAGS lo failed");
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) != 0) return errno_error("cannot bring lo up");
    ns->lo_ifindex_ = ::if_nametoindex("lo");
    if (ns->lo_ifindex_ == 0) return errno_error("no lo in the private namespace");
    return ns;
}

PrivateNetns::~PrivateNetns() {
    if (original_ && ::setns(original_.get(), CLONE_NEWNET) != 0)
        std::perror("xdp_steer_test: cannot return to the original network namespace");
}

}  // namespace xlane::test
