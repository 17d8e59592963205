#include "system/host_checks.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "bpf/bpffs.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif

namespace xlane {

namespace {

using Outcome = HostCheck::Outcome;

// libbpf prints probe failures as warnings; a doctor reports them itself.
int silent_print(libbpf_print_level, const char*, va_list) {
    return 0;
}

HostCheck feature(const std::string& name, int probe, const std::string& fix, bool privileged) {
    if (probe == 1) return {name, Outcome::ok, "supported", ""};
    // Without CAP_BPF every probe fails, which says nothing about the kernel.
    if (!privileged)
        return {name, Outcome::missing, "cannot probe without CAP_BPF",
                "run `xlane doctor` as root to check the kernel"};
    return {name, Outcome::missing,
            probe == 0 ? "not supported by this kernel"
                       : "probe failed (" + std::to_string(probe) + ")",
            fix};
}

// The loopback path's spinning-receiver policy attaches a BTF tracepoint
// program to sock:sock_recv_length (Linux 6.4+); libbpf finds it by the
// tracepoint's typedef in the kernel's BTF.
HostCheck recv_tracepoint() {
    const char* name = "sock_recv_length tracepoint";
    btf* vmlinux = btf__load_vmlinux_btf();
    if (vmlinux == nullptr)
        return {name, Outcome::warning, "no kernel BTF (/sys/kernel/btf/vmlinux)",
                "use a kernel with CONFIG_DEBUG_INFO_BTF=y, or `xlane loopback enable "
                "--spin-reads 0`"};
    const bool found =
        btf__find_by_name_kind(vmlinux, "btf_trace_sock_recv_length", BTF_KIND_TYPEDEF) >= 0;
    btf__free(vmlinux);
    if (found) return {name, Outcome::ok, "present (loopback spinning-receiver policy)", ""};
    return {name, Outcome::warning, "not in this kernel (Linux 6.4+)",
            "`xlane loopback enable --spin-reads 0`: redirects into receivers that spin on "
            "non-blocking receives can then be slower than the kernel's TCP"};
}

HostCheck af_xdp_socket() {
    const int fd = ::socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        ::close(fd);
        return {"AF_XDP sockets", Outcome::ok, "socket(AF_XDP) works", ""};
    }
    const int err = errno;
    if (err == EPERM || err == EACCES)
        return {"AF_XDP sockets", Outcome::missing, "socket(AF_XDP) not permitted",
                "run as root or grant CAP_NET_RAW"};
    return {"AF_XDP sockets", Outcome::missing,
            std::string("socket(AF_XDP) failed: ") + std::strerror(err),
            "use a kernel built with CONFIG_XDP_SOCKETS=y (4.18+, 5.x recommended)"};
}

HostCheck bpffs() {
    auto st = ensure_bpffs(false);
    if (st) return {"bpffs", Outcome::ok, "mounted at " + bpffs_root(), ""};
    return {"bpffs", Outcome::missing, st.error().describe(),
            "mount -t bpf bpf " + bpffs_root() + " (xlane attach also mounts it when missing)"};
}

// Inode numbers of the network namespaces that threads are in or that
// /run/netns names. A namespace held only by an open fd is not seen, so the
// check below only warns.
std::set<unsigned long> live_netns_inodes() {
    namespace fs = std::filesystem;
    std::set<unsigned long> live;
    std::error_code ec;
    for (const auto& proc : fs::directory_iterator("/proc", ec)) {
        std::error_code task_ec;
        for (const auto& task : fs::directory_iterator(proc.path() / "task", task_ec)) {
            struct stat st {};
            if (::stat((task.path() / "ns/net").c_str(), &st) == 0) live.insert(st.st_ino);
        }
    }
    for (const auto& named : fs::directory_iterator("/run/netns", ec)) {
        struct stat st {};
        if (::stat(named.path().c_str(), &st) == 0) live.insert(st.st_ino);
    }
    return live;
}

// Loopback pins of a namespace that died without `xlane loopback disable`
// keep their programs attached: the spinning-receiver tracepoint still runs
// on every receive of the host. (An `enable` in a namespace that gets the
// same inode number removes them.)
HostCheck stale_loopback_pins() {
    namespace fs = std::filesystem;
    const char* name = "loopback pins";
    const std::set<unsigned long> live = live_netns_inodes();
    std::string stale;
    std::error_code ec;
    for (const auto& dir : fs::directory_iterator(pin_root(), ec)) {
        const std::string ns = dir.path().filename().string();
        if (ns.rfind("netns-", 0) != 0 || !fs::exists(dir.path() / "loopback", ec)) continue;
        unsigned long inode = 0;
        try {
            inode = std::stoul(ns.substr(6));
        } catch (const std::exception&) {
            continue;
        }
        if (live.count(inode) != 0) continue;
        stale += (stale.empty() ? "" : " ") + (dir.path() / "loopback").string();
    }
    if (stale.empty()) return {name, Outcome::ok, "none left by a namespace that is gone", ""};
    return {name, Outcome::warning,
            "left by namespaces no process is in (their programs stay attached): " + stale,
            "rm -r " + stale + " (if no namespace is kept alive by an open fd only)"};
}

HostCheck cgroup_v2() {
    std::ifstream mounts("/proc/self/mounts");
    std::string line;
    while (std::getline(mounts, line)) {
        std::istringstream fields(line);
        std::string source, target, type;
        fields >> source >> target >> type;
        if (type == "cgroup2")
            return {"cgroup v2", Outcome::ok, "unified hierarchy at " + target, ""};
    }
    return {"cgroup v2", Outcome::missing,
            "no cgroup2 mount (the loopback path attaches sock_ops to a cgroup v2)",
            "mount -t cgroup2 none /sys/fs/cgroup/unified (or boot with "
            "systemd.unified_cgroup_hierarchy=1)"};
}

uint64_t effective_capabilities() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
    }
    return 0;
}

constexpr int kCapNetAdmin = 12;
constexpr int kCapNetRaw = 13;
constexpr int kCapIpcLock = 14;
constexpr int kCapSysAdmin = 21;
constexpr int kCapBpf = 39;

bool has_cap(uint64_t caps, int cap) {
    return (caps >> cap) & 1U;
}

HostCheck capabilities(uint64_t caps) {
    std::string lacking;
    auto need = [&](bool ok, const char* name) {
        if (!ok) lacking += std::string(lacking.empty() ? "" : ", ") + name;
    };
    need(has_cap(caps, kCapBpf) || has_cap(caps, kCapSysAdmin), "CAP_BPF");
    need(has_cap(caps, kCapNetAdmin), "CAP_NET_ADMIN");
    need(has_cap(caps, kCapNetRaw), "CAP_NET_RAW");
    if (lacking.empty())
        return {"capabilities", Outcome::ok, "CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW present", ""};
    return {"capabilities", Outcome::missing, "lacking " + lacking,
            "run xlane as root, or grant it: setcap cap_bpf,cap_net_admin,cap_net_raw,"
            "cap_sys_admin+ep $(command -v xlane)"};
}

HostCheck memlock(uint64_t caps) {
    // Since 5.11 BPF maps are charged to the memory cgroup, but AF_XDP UMEM
    // pages are still pinned against RLIMIT_MEMLOCK unless CAP_IPC_LOCK.
    constexpr rlim_t kNeeded = 64ULL << 20;
    rlimit limit{};
    ::getrlimit(RLIMIT_MEMLOCK, &limit);
    const std::string found = limit.rlim_cur == RLIM_INFINITY
                                  ? "unlimited"
                                  : std::to_string(limit.rlim_cur >> 10) + " KiB";
    if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= kNeeded || has_cap(caps, kCapIpcLock))
        return {"memlock", Outcome::ok,
                "RLIMIT_MEMLOCK " + found +
                    (has_cap(caps, kCapIpcLock) ? " (CAP_IPC_LOCK lifts it)" : ""),
                ""};
    return {"memlock", Outcome::warning,
            "RLIMIT_MEMLOCK " + found + ": too small for AF_XDP UMEMs of preloaded programs",
            "ulimit -l unlimited (or LimitMEMLOCK=infinity in the systemd unit)"};
}

HostCheck kernel_release() {
    utsname u{};
    ::uname(&u);
    return {"kernel", Outcome::info, std::string(u.sysname) + " " + u.release, ""};
}

HostCheck freplace(int probe) {
    if (probe == 1)
        return {"freplace (libxdp dispatcher)", Outcome::info,
                "supported; xlane still loads one program per interface", ""};
    return {"freplace (libxdp dispatcher)", Outcome::info,
            "not supported: libxdp's multi-program dispatcher cannot run, so xlane loads a "
            "single XDP program per interface and refuses to share it with another",
            ""};
}

}  // namespace

std::vector<HostCheck> run_host_checks() {
    const libbpf_print_fn_t previous = libbpf_set_print(silent_print);
    std::vector<HostCheck> checks;
    const uint64_t caps = effective_capabilities();
    const bool privileged = has_cap(caps, kCapBpf) || has_cap(caps, kCapSysAdmin);
    checks.push_back(kernel_release());
    const std::string newer_kernel = "use a kernel with CONFIG_BPF_SYSCALL=y";
    checks.push_back(feature("XDP programs", libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, nullptr),
                             newer_kernel + " (XDP: 4.8+, bpf_link for XDP: 5.9+)", privileged));
    checks.push_back(feature("XSKMAP (AF_XDP redirect)",
                             libbpf_probe_bpf_map_type(BPF_MAP_TYPE_XSKMAP, nullptr),
                             "use a kernel with CONFIG_XDP_SOCKETS=y", privileged));
    checks.push_back(af_xdp_socket());
    checks.push_back(feature("sockmap (SOCKHASH)",
                             libbpf_probe_bpf_map_type(BPF_MAP_TYPE_SOCKHASH, nullptr),
                             "use a kernel with CONFIG_BPF_STREAM_PARSER=y (5.x)", privileged));
    checks.push_back(feature("sock_ops programs",
                             libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SOCK_OPS, nullptr),
                             "use a kernel with CONFIG_CGROUP_BPF=y", privileged));
    checks.push_back(feature("sk_msg programs",
                             libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SK_MSG, nullptr),
                             "use a kernel with CONFIG_BPF_STREAM_PARSER=y", privileged));
    checks.push_back(feature("cgroup setsockopt programs",
                             libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SOCKOPT, nullptr),
                             "use a kernel 5.3+ with CONFIG_CGROUP_BPF=y", privileged));
    checks.push_back(recv_tracepoint());
    checks.push_back(stale_loopback_pins());
    if (privileged)
        checks.push_back(freplace(libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_EXT, nullptr)));
    checks.push_back(bpffs());
    checks.push_back(cgroup_v2());
    checks.push_back(capabilities(caps));
    checks.push_back(memlock(caps));
    libbpf_set_print(previous);
    return checks;
}

Status require_bpf_admin(const std::string& what) {
    const uint64_t caps = effective_capabilities();
    if ((has_cap(caps, kCapBpf) || has_cap(caps, kCapSysAdmin)) && has_cap(caps, kCapNetAdmin))
        return {};
    return make_error(EPERM, what + " needs root (CAP_BPF and CAP_NET_ADMIN)");
}

}  // namespace xlane
