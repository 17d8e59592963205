// Network devices of the current network namespace, by name and index, and
// the namespace itself as a human sees it (the `ip netns` name when there is one).
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace xlane {

// The ifindex of `ifname` in the current network namespace, or an error that
// names the namespace to look in.
[[nodiscard]] Result<unsigned> interface_index(const std::string& ifname);

// Whether `ifname` exists in the current network namespace.
[[nodiscard]] bool interface_exists(const std::string& ifname);

// The MTU of `ifname` in the current network namespace (SIOCGIFMTU).
[[nodiscard]] Result<uint32_t> interface_mtu(const std::string& ifname);

// The `ip netns` name (under /run/netns) whose namespace has this id
// ("netns-<inode>", see bpffs.h), or "" when the namespace has no name there.
[[nodiscard]] std::string netns_name_for_id(const std::string& netns_id);

// RAII switch of this thread into another network namespace (by an
// open-able path such as /run/netns/NAME or /proc/PID/ns/net); the destructor
// switches back. Used to query interfaces that live in another namespace.
class NetnsSwitch {
  public:
    [[nodiscard]] static Result<NetnsSwitch> enter(const std::string& netns_path);
    NetnsSwitch(NetnsSwitch&& other) noexcept;
    NetnsSwitch& operator=(NetnsSwitch&&) = delete;
    NetnsSwitch(const NetnsSwitch&) = delete;
    ~NetnsSwitch();

  private:
    explicit NetnsSwitch(int original_fd) : original_fd_(original_fd) {}
    int original_fd_ = -1;
};

// Path whose open() gives the namespace with this id: /run/netns/<name> when
// named, else "" (an unnamed namespace cannot be entered from its inode).
[[nodiscard]] std::string netns_path_for_id(const std::string& netns_id);

}  // namespace xlane
