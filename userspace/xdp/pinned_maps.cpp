#include "xdp/pinned_maps.h"

#include <bpf/bpf.h>

#include <string_view>
#include <vector>

#include "common/high_fd.h"
#include "xdp/pin_layout.h"

namespace xlane {

namespace {

Result<UniqueFd> open_pin(const std::string& dir, const char* name) {
    const std::string path = pins::path(dir, name);
    // The counters are only read: read-only, they open for members of the
    // `xlane` group too (0640, see restrict_pin in bpf/bpffs.h).
    struct bpf_obj_get_opts opts {};
    opts.sz = sizeof(opts);
    opts.file_flags = std::string_view(name) == XLANE_MAP_STATS ? BPF_F_RDONLY : 0;
    const int fd = move_fd_high(bpf_obj_get_opts(path.c_str(), &opts));
    if (fd < 0) return make_error(fd, "cannot open pinned map " + path + " (is xlane attached?)");
    return UniqueFd(fd);
}

}  // namespace

Result<PinnedXdpMaps> PinnedXdpMaps::open(const std::string& pin_dir) {
    PinnedXdpMaps maps;
    UniqueFd* slots[] = {&maps.flows, &maps.binds, &maps.xsks, &maps.stats};
    for (size_t i = 0; i < pins::kMaps.size(); ++i) {
        auto fd = open_pin(pin_dir, pins::kMaps[i]);
        if (!fd) return fd.error();
        *slots[i] = std::move(fd.value());
    }
    return maps;
}

Result<MapFill> map_fill(int map_fd) {
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (int err = bpf_obj_get_info_by_fd(map_fd, &info, &len); err != 0)
        return make_error(err, "cannot read BPF map info");
    MapFill fill;
    fill.max_entries = info.max_entries;
    if (info.type != BPF_MAP_TYPE_HASH) return fill;
    std::vector<uint8_t> key(info.key_size), next(info.key_size);
    uint32_t count = 0;
    const void* prev = nullptr;
    // Bounded by max_entries: a map that changes while we walk cannot loop us.
    while (count <= info.max_entries && bpf_map_get_next_key(map_fd, prev, next.data()) == 0) {
        ++count;
        key.swap(next);
        prev = key.data();
    }
    fill.entries = count;
    return fill;
}

}  // namespace xlane
