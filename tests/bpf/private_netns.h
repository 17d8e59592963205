// PrivateNetns: moves the test process into a fresh, anonymous network
// namespace with its own loopback up, and back to the original on scope exit,
// so an AF_XDP socket can be bound without touching the root namespace's lo.
#pragma once

#include <memory>

#include "common/result.h"
#include "common/unique_fd.h"

namespace xlane::test {

class PrivateNetns {
  public:
    // unshare(CLONE_NEWNET) + `ip link set lo up`. The namespace has no name
    // and no pin: it disappears with the last socket in it.
    [[nodiscard]] static Result<std::unique_ptr<PrivateNetns>> enter();
    ~PrivateNetns();  // setns() back to the namespace we came from
    PrivateNetns(const PrivateNetns&) = delete;
    PrivateNetns& operator=(const PrivateNetns&) = delete;

    [[nodiscard]] unsigned loopback_ifindex() const { return lo_ifindex_; }

  private:
    PrivateNetns() = default;
    UniqueFd original_;
    unsigned lo_ifindex_ = 0;
};

}  // namespace xlane::test
