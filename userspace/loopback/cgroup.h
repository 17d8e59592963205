// Where the cgroup-v2 (unified) hierarchy is mounted, and cgroup directories
// by path or by id, for attaching the loopback sock_ops program.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace xlane {

// The first cgroup2 mount in /proc/mounts (e.g. /sys/fs/cgroup/unified).
[[nodiscard]] Result<std::string> unified_cgroup_root();

// Opens a cgroup-v2 directory (O_RDONLY | O_DIRECTORY); refuses a path
// outside a cgroup2 file system with a message naming the unified root.
[[nodiscard]] Result<UniqueFd> open_cgroup(const std::string& path);

// The cgroup id (its inode number on cgroup2) of a directory.
[[nodiscard]] Result<uint64_t> cgroup_id(const std::string& path);

// The directory of the cgroup with this id, searched below the unified root
// (bounded depth); empty when not found.
[[nodiscard]] std::string cgroup_path_by_id(uint64_t id);

}  // namespace xlane
