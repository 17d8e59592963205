#include "bpf/bpffs.h"

#include <dirent.h>
#include <grp.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace xlane {

std::string bpffs_root() {
    // Only an absolute path is accepted (docs/configuration.md), as in
    // libxlane.so: a relative one would pin wherever the tool happens to run.
    const char* env = std::getenv("XLANE_BPFFS");
    if (env != nullptr && env[0] == '/') return env;
    return "/sys/fs/bpf";
}

std::string pin_root() { return bpffs_root() + "/xlane"; }

Result<std::string> current_netns_id() {
    struct stat st {};
    if (::stat("/proc/self/ns/net", &st) != 0) return errno_error("cannot stat /proc/self/ns/net");
    return "netns-" + std::to_string(st.st_ino);
}

Result<std::string> interface_pin_dir(const std::string& ifname) {
    auto ns = current_netns_id();
    if (!ns) return ns.error();
    return pin_root() + "/" + ns.value() + "/" + ifname;
}

Result<std::string> loopback_pin_dir() {
    auto ns = current_netns_id();
    if (!ns) return ns.error();
    return pin_root() + "/" + ns.value() + "/loopback";
}

namespace {

bool is_bpffs(const std::string& path) {
    struct statfs fs {};
    return ::statfs(path.c_str(), &fs) == 0 && fs.f_type == BPF_FS_MAGIC;
}

bool same_mount_namespace_as_init() {
    struct stat self {}, init {};
    if (::stat("/proc/self/ns/mnt", &self) != 0 || ::stat("/proc/1/ns/mnt", &init) != 0)
        return true;  // cannot tell (no /proc/1 access): assume the common case
    return self.st_ino == init.st_ino && self.st_dev == init.st_dev;
}

// The bpffs the init process sees at the same path; differs from ours when
// `ip netns exec` remounted /sys and someone mounted a fresh bpffs inside it.
bool same_bpffs_as_init(const std::string& root) {
    struct stat mine {}, init {};
    if (::stat(root.c_str(), &mine) != 0) return false;
    if (::stat(("/proc/1/root" + root).c_str(), &init) != 0) return true;  // cannot tell
    return mine.st_dev == init.st_dev;
}

// `ip netns exec` mounts a fresh sysfs on /sys with the namespace's name as
// its source. Recognising that mount does not need /proc/1, which a sandboxed
// or unprivileged-ptrace host may not let us inspect.
bool sys_remounted_by_ip_netns_exec() {
    std::ifstream mountinfo("/proc/self/mountinfo");
    std::string line;
    while (std::getline(mountinfo, line)) {
        std::istringstream fields(line);
        std::string id, parent, devno, root, mount_point, field;
        fields >> id >> parent >> devno >> root >> mount_point;
        if (mount_point != "/sys") continue;
        while (fields >> field && field != "-") {}
        std::string type, source;
        fields >> type >> source;
        struct stat st {};
        if (type == "sysfs" && source != "sysfs" && !source.empty() &&
            source.find('/') == std::string::npos &&
            ::stat(("/run/netns/" + source).c_str(), &st) == 0)
            return true;
    }
    return false;
}

constexpr const char* kNetnsHint =
    " (`ip netns exec` remounts /sys and hides the host bpffs; run xlane with "
    "`nsenter --net=/run/netns/NAME xlane ...` instead, or set XLANE_BPFFS)";

}  // namespace

Status ensure_bpffs(bool mount_if_missing) {
    const std::string root = bpffs_root();
    if (root.rfind("/sys/", 0) == 0 && sys_remounted_by_ip_netns_exec())
        return make_error(0, "refusing to pin under " + root + kNetnsHint);
    if (is_bpffs(root)) {
        if (!same_mount_namespace_as_init() && !same_bpffs_as_init(root))
            return make_error(0, "the bpffs at " + root +
                                     " is private to this mount namespace and would vanish "
                                     "with it" + kNetnsHint);
        return {};
    }
    if (!same_mount_namespace_as_init())
        return make_error(0, "no bpffs at " + root + " in this mount namespace" + kNetnsHint);
    if (!mount_if_missing) return make_error(0, "no bpffs mounted at " + root +
                                                    " (fix: mount -t bpf bpf " + root + ")");
    if (auto made = make_dirs(root); !made) return made;
    if (::mount("bpf", root.c_str(), "bpf", 0, "mode=0700") != 0)
        return errno_error("cannot mount bpffs at " + root);
    return {};
}

Status make_dirs(const std::string& path) {
    std::string partial;
    size_t pos = 0;
    while (pos != std::string::npos) {
        pos = path.find('/', pos + 1);
        partial = path.substr(0, pos);
        if (partial.empty()) continue;
        if (::mkdir(partial.c_str(), 0700) == 0) {
            // Only directories of our own: never re-mode the bpffs root or above.
            if (partial.rfind(pin_root(), 0) == 0)
                if (auto restricted = restrict_pin(partial, PinAccess::kGroupRead); !restricted)
                    return restricted;
        } else if (errno != EEXIST) {
            return errno_error("cannot create directory " + partial);
        }
    }
    return {};
}

std::optional<gid_t> xlane_group() {
    group entry{};
    group* found = nullptr;
    std::vector<char> buffer(4096);
    while (::getgrnam_r("xlane", &entry, buffer.data(), buffer.size(), &found) == ERANGE)
        buffer.resize(buffer.size() * 2);
    if (found == nullptr) return std::nullopt;
    return found->gr_gid;
}

Status restrict_pin(const std::string& path, PinAccess access) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return errno_error("cannot stat " + path);
    const bool directory = S_ISDIR(st.st_mode);
    const std::optional<gid_t> group = xlane_group();
    mode_t mode = directory ? 0700 : 0600;
    if (group && access != PinAccess::kRootOnly) {
        if (::chown(path.c_str(), static_cast<uid_t>(-1), *group) != 0)
            return errno_error("cannot give " + path + " to group xlane");
        mode = directory ? 0750 : (access == PinAccess::kGroupReadWrite ? 0660 : 0640);
    }
    if (::chmod(path.c_str(), mode) != 0) return errno_error("cannot set the mode of " + path);
    return {};
}

Status remove_pin_dir(const std::string& path) {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) {
        if (errno == ENOENT) return {};
        return errno_error("cannot open " + path);
    }
    std::vector<std::string> names;
    while (dirent* entry = ::readdir(dir)) {
        std::string name = entry->d_name;
        if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(dir);
    for (const auto& name : names) {
        const std::string full = path + "/" + name;
        if (::unlink(full.c_str()) != 0 && errno != ENOENT)
            return errno_error("cannot remove pin " + full);
    }
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT)
        return errno_error("cannot remove directory " + path);
    return {};
}

void remove_empty_parents(const std::string& path) {
    const std::string stop = bpffs_root();
    std::string dir = path;
    while (true) {
        auto slash = dir.rfind('/');
        if (slash == std::string::npos) return;
        dir = dir.substr(0, slash);
        if (dir.size() <= stop.size()) return;
        if (::rmdir(dir.c_str()) != 0) return;  // not empty (or gone): stop
    }
}

}  // namespace xlane
