// What this host offers xlane: kernel features (XDP, AF_XDP, sockmap,
// sock_ops), bpffs, cgroup v2, capabilities, memlock; each with the fix when missing.
#pragma once

#include <string>
#include <vector>

namespace xlane {

struct HostCheck {
    enum class Outcome { ok, missing, warning, info };
    std::string name;  // "XDP programs", "bpffs", ...
    Outcome outcome = Outcome::ok;
    std::string detail;  // what was found
    std::string fix;     // how to fix it, when not ok
};

// Runs every check; probes load tiny programs and maps and remove them again.
[[nodiscard]] std::vector<HostCheck> run_host_checks();

}  // namespace xlane
