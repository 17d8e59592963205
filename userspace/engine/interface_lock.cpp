#include "engine/interface_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include "bpf/bpffs.h"
#include "common/high_fd.h"

namespace xlane::engine {
namespace {

constexpr const char* kLockRoot = "/run/xlane";

Status make_private_dir(const std::string& path) {
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
        return errno_error("cannot create " + path);
    return {};
}

// The pid the holder wrote; it writes right after locking, so a reader that
// comes in between sees an empty file for a moment and looks again.
std::string holder_pid(int fd) {
    for (int attempt = 0; attempt < 20; ++attempt) {
        char buffer[32] = {};
        const ssize_t got = ::pread(fd, buffer, sizeof(buffer) - 1, 0);
        if (got > 0) {
            std::string text(buffer, static_cast<size_t>(got));
            while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
            if (!text.empty()) return text;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return "?";
}

}  // namespace

Result<std::string> InterfaceLock::path_for(const std::string& ifname) {
    auto netns = current_netns_id();
    if (!netns) return netns.error();
    return std::string(kLockRoot) + "/" + netns.value() + "/" + ifname + ".lock";
}

Result<InterfaceLock> InterfaceLock::acquire(const std::string& ifname) {
    auto netns = current_netns_id();
    if (!netns) return netns.error();
    const std::string dir = std::string(kLockRoot) + "/" + netns.value();
    if (auto status = make_private_dir(kLockRoot); !status) return status.error();
    if (auto status = make_private_dir(dir); !status) return status.error();
    const std::string path = dir + "/" + ifname + ".lock";

    UniqueFd fd(move_fd_high(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)));
    if (!fd) return errno_error("cannot open the interface lock " + path);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) return errno_error("cannot lock " + path);
        return make_error(EBUSY, "the AF_XDP sockets of " + ifname +
                                     " in this network namespace are owned by pid " +
                                     holder_pid(fd.get()) + " (lock " + path +
                                     "); one xlane process per interface");
    }
    // The file is never unlinked: a process that opened it before an unlink
    // would lock an orphaned inode while a newcomer locks a new file.
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd.get(), 0) != 0 ||
        ::pwrite(fd.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
        return errno_error("cannot write the owner into " + path);
    return InterfaceLock(std::move(fd), path);
}

}  // namespace xlane::engine
