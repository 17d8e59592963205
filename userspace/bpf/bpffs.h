// Where xlane pins its BPF objects, and the checks that make pinning safe:
// bpffs mounted (mounting it when it is not), and not a private instance
// that `ip netns exec` leaves behind and that would vanish with the command.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
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

// mkdir -p with mode 0700; directories it creates under pin_root() then get
// restrict_pin(kGroupRead): 0750 root:xlane when that group exists.
[[nodiscard]] Status make_dirs(const std::string& path);

// Who may use a pin. Root always; members of the system group `xlane`, when
// it exists (`groupadd --system xlane`), get what the preload library needs:
// traverse the directories and read the maps (kGroupRead), and update the
// steering maps their sockets own (kGroupReadWrite). Everyone else gets
// nothing, so an unprivileged process cannot open, let alone change, the
// steering maps. Without the group every pin is root's alone.
enum class PinAccess : uint8_t {
    kRootOnly,        // 0600 / 0700: programs and links (unlinking one detaches)
    kGroupRead,       // 0640 / 0750: directories, counters
    kGroupReadWrite,  // 0660: xlane_flows, xlane_binds, xlane_xsks
};

// The `xlane` group's id, or nullopt when there is no such group.
[[nodiscard]] std::optional<gid_t> xlane_group();

// Sets the mode (and group, when the `xlane` group exists) of one pin or pin
// directory after it was made; root keeps ownership.
[[nodiscard]] Status restrict_pin(const std::string& path, PinAccess access);

// Removes a pin directory and every pin in it (not recursive beyond one level
// of files; pin dirs hold only pins). Missing dir is not an error.
[[nodiscard]] Status remove_pin_dir(const std::string& path);

// Removes empty parents of `path` up to (not including) pin_root()'s parent.
void remove_empty_parents(const std::string& path);

}  // namespace xlane
