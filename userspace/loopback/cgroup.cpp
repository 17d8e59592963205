#include "loopback/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <fstream>
#include <sstream>

namespace xlane {

Result<std::string> unified_cgroup_root() {
    std::ifstream mounts("/proc/mounts");
    std::string line;
    while (std::getline(mounts, line)) {
        std::istringstream fields(line);
        std::string device, dir, type;
        fields >> device >> dir >> type;
        if (type == "cgroup2") return dir;
    }
    return make_error(ENOENT,
                      "no cgroup2 (unified) hierarchy is mounted (fix: mount -t cgroup2 "
                      "none /sys/fs/cgroup/unified)");
}

Result<UniqueFd> open_cgroup(const std::string& path) {
    struct statfs fs {};
    if (::statfs(path.c_str(), &fs) != 0) return errno_error("cannot open cgroup " + path);
    if (fs.f_type != CGROUP2_SUPER_MAGIC) {
        auto root = unified_cgroup_root();
        return make_error(EINVAL, path +
                                      " is not a cgroup-v2 directory (the unified hierarchy "
                                      "is at " +
                                      (root ? root.value() : "<not mounted>") + ")");
    }
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return errno_error("cannot open cgroup " + path);
    return fd;
}

Result<uint64_t> cgroup_id(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return errno_error("cannot stat cgroup " + path);
    return static_cast<uint64_t>(st.st_ino);
}

namespace {

std::string find_below(const std::string& dir, uint64_t id, int depth) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0 && st.st_ino == id) return dir;
    if (depth == 0) return {};
    DIR* handle = ::opendir(dir.c_str());
    if (handle == nullptr) return {};
    std::string found;
    while (dirent* entry = ::readdir(handle)) {
        if (entry->d_type != DT_DIR || entry->d_name[0] == '.') continue;
        found = find_below(dir + "/" + entry->d_name, id, depth - 1);
        if (!found.empty()) break;
    }
    ::closedir(handle);
    return found;
}

}  // namespace

std::string cgroup_path_by_id(uint64_t id) {
    auto root = unified_cgroup_root();
    if (!root) return {};
    return find_below(root.value(), id, 8);
}

}  // namespace xlane
