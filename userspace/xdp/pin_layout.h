// What one XDP attachment pins under its directory
// /sys/fs/bpf/xlane/<netns-id>/<ifname>/ (see bpf/bpffs.h), by name.
#pragma once

#include <array>
#include <string>

#include "xlane/abi.h"

namespace xlane::pins {

// The XDP bpf_link: while this pin exists the program stays attached, even
// after the tool that attached it has exited.
inline constexpr const char* kLink = "link";
inline constexpr const char* kProgram = XLANE_XDP_PROG_NAME;
inline constexpr std::array<const char*, 4> kMaps = {XLANE_MAP_FLOWS, XLANE_MAP_BINDS,
                                                     XLANE_MAP_XSKS, XLANE_MAP_STATS};

[[nodiscard]] inline std::string path(const std::string& dir, const char* name) {
    return dir + "/" + name;
}

}  // namespace xlane::pins
