// Device facts through the ioctls `ethtool -l` and `ip link` use, on a
// throwaway datagram socket of the current network namespace (not /sys,
// which `nsenter --net` leaves showing another namespace's devices).
#include "engine/link_facts.h"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "common/unique_fd.h"

namespace xlane::engine {
namespace {

Result<ifreq> request_for(const std::string& ifname) {
    ifreq request{};
    if (ifname.empty() || ifname.size() >= sizeof(request.ifr_name))
        return make_error(EINVAL, "bad interface name '" + ifname + "'");
    std::memcpy(request.ifr_name, ifname.data(), ifname.size());
    return request;
}

Result<UniqueFd> ioctl_socket() {
    UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) return errno_error("cannot open a socket for device ioctls");
    return fd;
}

}  // namespace

Result<uint32_t> rx_queue_count(const std::string& ifname) {
    auto request = request_for(ifname);
    if (!request) return request.error();
    auto fd = ioctl_socket();
    if (!fd) return fd.error();
    ethtool_channels channels{};
    channels.cmd = ETHTOOL_GCHANNELS;
    request->ifr_data = reinterpret_cast<char*>(&channels);
    if (::ioctl(fd->get(), SIOCETHTOOL, &request.value()) != 0) {
        if (errno == EOPNOTSUPP) return 1u;
        return errno_error("cannot read the channel count of " + ifname + " (ethtool -l)");
    }
    return std::max<uint32_t>(1, channels.rx_count + channels.combined_count);
}

Result<packet::MacAddr> interface_mac(const std::string& ifname) {
    auto request = request_for(ifname);
    if (!request) return request.error();
    auto fd = ioctl_socket();
    if (!fd) return fd.error();
    if (::ioctl(fd->get(), SIOCGIFHWADDR, &request.value()) != 0)
        return errno_error("cannot read the MAC address of " + ifname);
    if (request->ifr_hwaddr.sa_family != ARPHRD_ETHER)
        return make_error(EPROTONOSUPPORT, ifname + " is not an Ethernet device");
    packet::MacAddr mac{};
    std::memcpy(mac.data(), request->ifr_hwaddr.sa_data, mac.size());
    return mac;
}

}  // namespace xlane::engine
