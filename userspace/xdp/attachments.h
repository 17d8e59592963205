// The XDP attachments xlane has pinned, found by walking the pin tree
// /sys/fs/bpf/xlane/<netns-id>/<ifname>/, with what the kernel says about
// each (still attached? which mode?) and, for stale ones, what went wrong.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "xdp/xdp_query.h"

namespace xlane {

struct Attachment {
    std::string netns_id;    // "netns-<inode>"
    std::string netns_name;  // `ip netns` name, "" when the namespace has none
    std::string ifname;
    std::string pin_dir;
    uint32_t prog_id = 0;         // the pinned program, 0 when its pin is missing
    uint32_t link_id = 0;         // the pinned XDP link, 0 when its pin is missing
    unsigned ifindex = 0;         // where the link is attached, 0 when its device is gone
    std::optional<XdpState> xdp;  // the device's XDP state, when its namespace is reachable
    std::string problem;          // "" when healthy, else why the pins are stale

    [[nodiscard]] bool stale() const { return !problem.empty(); }
};

// Reads the pins of one attachment directory (no namespace switch).
[[nodiscard]] Attachment read_attachment_pins(const std::string& netns_id,
                                              const std::string& ifname);

// Every attachment under the pin root, in every namespace, with its live
// state; namespaces with an `ip netns` name are entered to query the device.
[[nodiscard]] Result<std::vector<Attachment>> list_attachments();

}  // namespace xlane
