#include "xdp/xdp_query.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <unistd.h>

#include "common/unique_fd.h"

namespace xlane {

std::string_view to_string(XdpMode mode) {
    return mode == XdpMode::native ? "native" : "skb";
}

Result<XdpMode> parse_xdp_mode(std::string_view text) {
    if (text == "native") return XdpMode::native;
    if (text == "skb") return XdpMode::skb;
    return make_error(EINVAL, "unknown XDP mode '" + std::string(text) + "' (use native or skb)");
}

uint32_t xdp_mode_flags(XdpMode mode) {
    return mode == XdpMode::native ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
}

std::optional<XdpMode> XdpState::xlane_mode() const {
    if (mode == "native") return XdpMode::native;
    if (mode == "skb") return XdpMode::skb;
    return std::nullopt;
}

Result<XdpState> query_xdp(unsigned ifindex) {
    LIBBPF_OPTS(bpf_xdp_query_opts, opts);
    if (int err = bpf_xdp_query(static_cast<int>(ifindex), 0, &opts); err != 0)
        return make_error(err,
                          "cannot query the XDP program of ifindex " + std::to_string(ifindex));
    XdpState state;
    state.prog_id = opts.prog_id;
    state.drv_prog_id = opts.drv_prog_id;
    state.skb_prog_id = opts.skb_prog_id;
    state.hw_prog_id = opts.hw_prog_id;
    switch (opts.attach_mode) {
        case XDP_ATTACHED_DRV:
            state.mode = "native";
            break;
        case XDP_ATTACHED_SKB:
            state.mode = "skb";
            break;
        case XDP_ATTACHED_HW:
            state.mode = "hw";
            break;
        case XDP_ATTACHED_MULTI:
            state.mode = "multi";
            break;
        default:
            state.mode = "none";
            break;
    }
    return state;
}

uint32_t xdp_link_id(unsigned ifindex, uint32_t prog_id) {
    // Program ids are unique system-wide, so prog_id pins down the namespace
    // that the (per-namespace) ifindex belongs to.
    uint32_t id = 0;
    while (bpf_link_get_next_id(id, &id) == 0) {
        UniqueFd fd(bpf_link_get_fd_by_id(id));
        if (!fd) continue;  // gone meanwhile
        bpf_link_info info{};
        uint32_t len = sizeof(info);
        if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) continue;
        if (info.type == BPF_LINK_TYPE_XDP && info.prog_id == prog_id &&
            info.xdp.ifindex == ifindex)
            return id;
    }
    return 0;
}

bool wait_until_detached(unsigned ifindex, uint32_t prog_id, int timeout_ms) {
    constexpr int kStepMs = 5;
    for (int waited = 0;; waited += kStepMs) {
        auto state = query_xdp(ifindex);
        if (!state || state->prog_id != prog_id) return true;
        if (waited >= timeout_ms) return false;
        ::usleep(kStepMs * 1000);
    }
}

std::string bpf_program_name(uint32_t prog_id) {
    UniqueFd fd(bpf_prog_get_fd_by_id(prog_id));
    if (!fd) return "";
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd.get(), &info, &len) != 0) return "";
    return info.name;
}

}  // namespace xlane
