// What the kernel reports about the XDP program on an interface (id, mode,
// name), and xlane's two attach modes. Read-only: nothing here changes state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace xlane {

// native = the driver runs the program (XDP_FLAGS_DRV_MODE);
// skb = generic XDP after the skb is built (XDP_FLAGS_SKB_MODE), works everywhere.
enum class XdpMode { native, skb };

[[nodiscard]] std::string_view to_string(XdpMode mode);
[[nodiscard]] Result<XdpMode> parse_xdp_mode(std::string_view text);
// The XDP_FLAGS_* value that selects this mode.
[[nodiscard]] uint32_t xdp_mode_flags(XdpMode mode);

struct XdpState {
    uint32_t prog_id = 0;      // 0: nothing attached
    uint32_t drv_prog_id = 0;  // per-mode ids; more than one set only in "multi" mode
    uint32_t skb_prog_id = 0;
    uint32_t hw_prog_id = 0;
    std::string mode;  // "none", "native", "skb", "hw" or "multi"

    [[nodiscard]] bool attached() const { return prog_id != 0 || mode == "multi"; }
    // The mode as an XdpMode when it is one xlane uses.
    [[nodiscard]] std::optional<XdpMode> xlane_mode() const;
};

// bpf_xdp_query on an ifindex of the current network namespace.
[[nodiscard]] Result<XdpState> query_xdp(unsigned ifindex);

// The id of the bpf_link that holds `prog_id` on `ifindex`, 0 when the
// program was attached through netlink (`ip link set ... xdp`), or unknown.
[[nodiscard]] uint32_t xdp_link_id(unsigned ifindex, uint32_t prog_id);

// Waits (bounded) until `prog_id` is no longer the XDP program of `ifindex`.
// Dropping the last reference to an XDP link detaches it from a kernel work
// item, so the detach lands shortly after the pin or fd is gone, not at once.
[[nodiscard]] bool wait_until_detached(unsigned ifindex, uint32_t prog_id, int timeout_ms = 3000);

// The kernel's name for a loaded program (bpftool's "name"), "" if unknown.
[[nodiscard]] std::string bpf_program_name(uint32_t prog_id);

}  // namespace xlane
