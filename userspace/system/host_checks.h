// What this host offers xlane: kernel features (XDP, AF_XDP, sockmap,
// sock_ops), bpffs, cgroup v2, capabilities, memlock; each with the fix when missing.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

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

// Whether this process may load BPF programs and attach them to interfaces
// (CAP_BPF or CAP_SYS_ADMIN, and CAP_NET_ADMIN); the error names the fix.
[[nodiscard]] Status require_bpf_admin(const std::string& what);

}  // namespace xlane
