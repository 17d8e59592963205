// Attach and detach xlane's XDP steering program on an interface of the
// current network namespace, pinning program, maps and link so the
// attachment outlives the tool. All-or-nothing: a failure leaves no trace.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "xdp/xdp_query.h"

namespace xlane {

struct AttachRequest {
    std::string ifname;
    XdpMode mode = XdpMode::native;
    // Replace a foreign program attached through netlink (`ip link set ... xdp`).
    // A foreign bpf_link can never be replaced: only its owner can remove it.
    bool force = false;
};

// The MTU above which a native attachment loads the program multi-buffer
// (BPF_F_XDP_HAS_FRAGS). Raising a device's MTU above it later, the driver
// may refuse (a veth does): detach and attach again.
inline constexpr uint32_t kSingleBufferMtu = 3000;

struct AttachOutcome {
    bool already_attached = false;    // xlane was attached in that mode: nothing changed
    bool removed_stale_pins = false;  // pins of a vanished attachment were cleared first
    uint32_t replaced_prog_id = 0;    // the foreign program --force detached, 0 if none
    unsigned ifindex = 0;
    uint32_t prog_id = 0;
    bool multi_buffer = false;  // loaded with BPF_F_XDP_HAS_FRAGS
    std::string pin_dir;
};

[[nodiscard]] Result<AttachOutcome> attach_xdp(const AttachRequest& request);

struct DetachOutcome {
    std::string pin_dir;
    uint32_t prog_id = 0;
};

// Removes the link (which detaches the program) and every pin of the
// attachment. Works from the pins alone, so it also clears stale pins of an
// interface that no longer exists.
[[nodiscard]] Result<DetachOutcome> detach_xdp(const std::string& ifname);

// Removes the pins of every stale attachment (interface or link gone), in
// every namespace; returns the pin directories it removed.
[[nodiscard]] Result<std::vector<std::string>> remove_stale_attachments();

}  // namespace xlane
