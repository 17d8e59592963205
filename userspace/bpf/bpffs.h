// Where xlane pins its BPF objects, and the checks that make pinning safe:
// bpffs mounted (mounting it when it is not), and not a private instance
// that `ip netns exec` leaves behind and that would vanish with the command.
#pragma once

#include <string>

#include "common/result.h"

namespace xlane {

// The bpffs root: $XLANE_BPFFS, else /sys/fs/bpf.
[[nodiscard]] std::string bpffs_root();

// <bpffs>/xlane
[[nodiscard]] std::string pin_root();

// A stable name for the current network namespace, from its inode:
// "netns-<inode>". Pins are per namespace because two namespaces can each
// have an interface with the same name.
[[nodiscard]] Result<std::string> current_netns_id();

// <bpffs>/xlane/<netns>/<ifname>
[[nodiscard]] Result<std::string> interface_pin_dir(const std::string& ifname);

// <bpffs>/xlane/<netns>/loopback
[[nodiscard]] Result<std::string> loopback_pin_dir();

// Makes sure the bpffs root is a bpffs that outlives this process: mounts it
// when nothing is mounted there and we share the host's mount namespace;
// refuses (with a message naming the fix) a bpffs that `ip netns exec` made
// private. `mount_if_missing=false` only checks.
[[nodiscard]] Status ensure_bpffs(bool mount_if_missing = true);

// mkdir -p with mode 0700 (pins are root's).
[[nodiscard]] Status make_dirs(const std::string& path);

// Removes a pin directory and every pin in it (not recursive beyond one level
// of files; pin dirs hold only pins). Missing dir is not an error.
[[nodiscard]] Status remove_pin_dir(const std::string& path);

// Removes empty parents of `path` up to (not including) pin_root()'s parent.
void remove_empty_parents(const std::string& path);

}  // namespace xlane
