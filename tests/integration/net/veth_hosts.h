// VethHosts: two anonymous network namespaces A and B joined by a veth pair
// (198.18.0.1/24 + fd00:198:18::1/64 in A, .2 and ::2 in B); this thread works in A.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace xlane::test {

// The namespaces have no name and no pin: they vanish with the last fd and
// process in them, so even a killed test leaves nothing behind.
class VethHosts {
  public:
    static constexpr const char* kAddressA = "198.18.0.1";
    static constexpr const char* kAddressB = "198.18.0.2";
    static constexpr const char* kAddress6A = "fd00:198:18::1";
    static constexpr const char* kAddress6B = "fd00:198:18::2";

    [[nodiscard]] static Result<std::unique_ptr<VethHosts>> create();
    ~VethHosts();  // back to the namespace this thread came from
    VethHosts(const VethHosts&) = delete;
    VethHosts& operator=(const VethHosts&) = delete;

    [[nodiscard]] const std::string& interface_a() const { return if_a_; }
    [[nodiscard]] const std::string& interface_b() const { return if_b_; }
    [[nodiscard]] unsigned ifindex_a() const { return ifindex_a_; }

    // Runs `sh -c command` inside A or B (at most 10 s); its stdout, or an
    // error with its exit status and output.
    [[nodiscard]] Result<std::string> run_in_a(const std::string& command) const;
    [[nodiscard]] Result<std::string> run_in_b(const std::string& command) const;

    // B's veth MAC as `ip link` prints it ("aa:bb:cc:dd:ee:ff").
    [[nodiscard]] Result<std::string> mac_of_b() const;

  private:
    VethHosts() = default;
    [[nodiscard]] Result<std::string> run_in(int netns_fd, const std::string& command) const;

    UniqueFd original_;
    UniqueFd netns_a_;
    UniqueFd netns_b_;
    std::string if_a_;
    std::string if_b_;
    unsigned ifindex_a_ = 0;
};

}  // namespace xlane::test
