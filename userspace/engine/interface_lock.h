// InterfaceLock: one process at a time drives the AF_XDP sockets of an
// interface in a network namespace; the lock dies with its holder, even on SIGKILL.
#pragma once

#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace xlane::engine {

// flock() on /run/xlane/<netns-id>/<ifname>.lock (directory mode 0700). The
// kernel releases a flock when the last fd of its open file description
// closes, so a crashed owner never leaves the interface locked. The holder's
// pid is written into the file so that a refused process can name it. A
// second acquire() in the same process also fails (another open file
// description), which keeps two engines of one process apart too.
class InterfaceLock {
  public:
    // EBUSY "... is owned by pid N" when another holder has it.
    [[nodiscard]] static Result<InterfaceLock> acquire(const std::string& ifname);
    // Where the lock of `ifname` in this namespace lives.
    [[nodiscard]] static Result<std::string> path_for(const std::string& ifname);

    InterfaceLock(InterfaceLock&&) noexcept = default;
    InterfaceLock& operator=(InterfaceLock&&) noexcept = default;

    [[nodiscard]] const std::string& path() const { return path_; }
    [[nodiscard]] int fd() const { return fd_.get(); }

  private:
    InterfaceLock(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
    UniqueFd fd_;  // closing it releases the lock
    std::string path_;
};

}  // namespace xlane::engine
