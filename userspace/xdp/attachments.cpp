#include "xdp/attachments.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <net/if.h>

#include <algorithm>

#include "bpf/bpffs.h"
#include "common/unique_fd.h"
#include "xdp/netdev.h"
#include "xdp/pin_layout.h"

namespace xlane {

namespace {

std::vector<std::string> subdirectories(const std::string& path) {
    std::vector<std::string> names;
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return names;
    while (dirent* entry = ::readdir(dir)) {
        const std::string name = entry->d_name;
        if (name != "." && name != ".." && entry->d_type == DT_DIR) names.push_back(name);
    }
    ::closedir(dir);
    std::sort(names.begin(), names.end());
    return names;
}

// Fills the live fields: the device behind the link, checked from inside its
// namespace (ifindexes are per namespace).
void check_live_state(Attachment& a) {
    if (a.prog_id == 0) {
        a.problem = "program pin missing";
        return;
    }
    if (a.link_id == 0) {
        a.problem = "link pin missing: the program is not attached";
        return;
    }
    if (a.ifindex == 0) {
        a.problem = "interface gone: the link no longer has a device";
        return;
    }
    const std::string ns_path = netns_path_for_id(a.netns_id);
    if (ns_path.empty()) return;  // unnamed namespace: trust the link
    auto inside = NetnsSwitch::enter(ns_path);
    if (!inside) return;
    char name[IF_NAMESIZE] = {};
    if (::if_indextoname(a.ifindex, name) == nullptr || a.ifname != name) {
        a.problem = "the link's device is no longer named " + a.ifname;
        return;
    }
    if (auto state = query_xdp(a.ifindex); state) {
        a.xdp = state.value();
        if (a.xdp->prog_id != a.prog_id)
            a.problem =
                "another program (id " + std::to_string(a.xdp->prog_id) + ") is attached instead";
    }
}

}  // namespace

Attachment read_attachment_pins(const std::string& netns_id, const std::string& ifname) {
    Attachment a;
    a.netns_id = netns_id;
    a.ifname = ifname;
    a.pin_dir = pin_root() + "/" + netns_id + "/" + ifname;

    UniqueFd prog(bpf_obj_get(pins::path(a.pin_dir, pins::kProgram).c_str()));
    if (prog) {
        bpf_prog_info info{};
        uint32_t len = sizeof(info);
        if (bpf_obj_get_info_by_fd(prog.get(), &info, &len) == 0) a.prog_id = info.id;
    }
    UniqueFd link(bpf_obj_get(pins::path(a.pin_dir, pins::kLink).c_str()));
    if (link) {
        bpf_link_info info{};
        uint32_t len = sizeof(info);
        if (bpf_obj_get_info_by_fd(link.get(), &info, &len) == 0) {
            a.link_id = info.id;
            if (info.type == BPF_LINK_TYPE_XDP) a.ifindex = info.xdp.ifindex;
        }
    }
    return a;
}

Result<std::vector<Attachment>> list_attachments() {
    if (auto fs = ensure_bpffs(false); !fs) return fs.error();
    std::vector<Attachment> found;
    for (const auto& netns_id : subdirectories(pin_root())) {
        const std::string name = netns_name_for_id(netns_id);
        for (const auto& ifname : subdirectories(pin_root() + "/" + netns_id)) {
            if (ifname == "loopback") continue;  // the sockmap pins, not an interface
            Attachment a = read_attachment_pins(netns_id, ifname);
            a.netns_name = name;
            check_live_state(a);
            found.push_back(std::move(a));
        }
    }
    return found;
}

}  // namespace xlane
