#include "xdp/netdev.h"

#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "bpf/bpffs.h"
#include "common/unique_fd.h"

namespace xlane {

namespace {
constexpr const char* kNetnsRunDir = "/run/netns";
}  // namespace

Result<unsigned> interface_index(const std::string& ifname) {
    if (ifname.empty() || ifname.size() >= IF_NAMESIZE)
        return make_error(EINVAL, "'" + ifname + "' is not a valid interface name");
    const unsigned index = ::if_nametoindex(ifname.c_str());
    if (index == 0) {
        auto ns = current_netns_id();
        return make_error(ENODEV, "no interface '" + ifname + "' in this network namespace (" +
                                      (ns ? ns.value() : std::string("unknown")) +
                                      "); run xlane in the interface's namespace with "
                                      "`nsenter --net=/run/netns/NAME xlane ...`");
    }
    return index;
}

bool interface_exists(const std::string& ifname) {
    return ::if_nametoindex(ifname.c_str()) != 0;
}

Result<uint32_t> interface_mtu(const std::string& ifname) {
    UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) return errno_error("socket for SIOCGIFMTU failed");
    ifreq request{};
    std::strncpy(request.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
    if (::ioctl(fd.get(), SIOCGIFMTU, &request) != 0)
        return errno_error("SIOCGIFMTU on " + ifname + " failed");
    return static_cast<uint32_t>(request.ifr_mtu);
}

std::string netns_name_for_id(const std::string& netns_id) {
    DIR* dir = ::opendir(kNetnsRunDir);
    if (dir == nullptr) return "";
    std::string found;
    while (dirent* entry = ::readdir(dir)) {
        const std::string name = entry->d_name;
        if (name == "." || name == "..") continue;
        struct stat st {};
        const std::string path = std::string(kNetnsRunDir) + "/" + name;
        if (::stat(path.c_str(), &st) != 0) continue;
        if ("netns-" + std::to_string(st.st_ino) == netns_id) {
            found = name;
            break;
        }
    }
    ::closedir(dir);
    return found;
}

std::string netns_path_for_id(const std::string& netns_id) {
    if (auto current = current_netns_id(); current && current.value() == netns_id)
        return "/proc/self/ns/net";
    const std::string name = netns_name_for_id(netns_id);
    return name.empty() ? "" : std::string(kNetnsRunDir) + "/" + name;
}

Result<NetnsSwitch> NetnsSwitch::enter(const std::string& netns_path) {
    const int original = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (original < 0) return errno_error("cannot open this thread's network namespace");
    NetnsSwitch guard(original);
    const int target = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (target < 0) return errno_error("cannot open network namespace " + netns_path);
    const int rc = ::setns(target, CLONE_NEWNET);
    const int saved = errno;
    ::close(target);
    if (rc != 0) return make_error(saved, "cannot enter network namespace " + netns_path);
    return guard;
}

NetnsSwitch::NetnsSwitch(NetnsSwitch&& other) noexcept
    : original_fd_(std::exchange(other.original_fd_, -1)) {}

NetnsSwitch::~NetnsSwitch() {
    if (original_fd_ < 0) return;
    // Failing to return would leave the thread in the wrong namespace; there
    // is no caller to tell from a destructor, so this is the best we can do.
    (void)::setns(original_fd_, CLONE_NEWNET);
    ::close(original_fd_);
}

}  // namespace xlane
