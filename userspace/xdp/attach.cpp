#include "xdp/attach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <sys/stat.h>

#include "bpf/bpffs.h"
#include "bpf/xdp_steer_object.h"
#include "common/unique_fd.h"
#include "system/host_checks.h"
#include "xdp/attach_transaction.h"
#include "xdp/attachments.h"
#include "xdp/netdev.h"
#include "xdp/pin_layout.h"

namespace xlane {

namespace {

bool path_exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

std::string program_label(uint32_t prog_id) {
    const std::string name = bpf_program_name(prog_id);
    return "id " + std::to_string(prog_id) + (name.empty() ? "" : ", name " + name);
}

// Detaches a foreign netlink-attached program from every mode it occupies,
// recording it in the transaction so a later failure puts it back.
Status displace_foreign(const std::string& ifname, unsigned ifindex, const XdpState& state,
                        AttachTransaction& tx) {
    struct Slot {
        uint32_t id;
        uint32_t flags;
    };
    const Slot slots[] = {{state.drv_prog_id, XDP_FLAGS_DRV_MODE},
                          {state.skb_prog_id, XDP_FLAGS_SKB_MODE},
                          {state.hw_prog_id, XDP_FLAGS_HW_MODE}};
    for (const auto& slot : slots) {
        if (slot.id == 0) continue;
        UniqueFd prog(bpf_prog_get_fd_by_id(slot.id));
        if (!prog)
            return errno_error("cannot take hold of the foreign XDP program (" +
                               program_label(slot.id) + ") on " + ifname);
        // libbpf would print the kernel's extack message; the error below says it better.
        const libbpf_print_fn_t previous = libbpf_set_print(nullptr);
        const int err = bpf_xdp_detach(static_cast<int>(ifindex), slot.flags, nullptr);
        libbpf_set_print(previous);
        if (err != 0) {
            if (err == -EBUSY)
                return make_error(0, "the foreign XDP program (" + program_label(slot.id) +
                                         ") on " + ifname +
                                         " is attached through a bpf_link, which --force cannot "
                                         "replace; its owner must remove it (see `bpftool link "
                                         "show`)");
            return make_error(err, "cannot detach the foreign XDP program (" +
                                       program_label(slot.id) + ") from " + ifname);
        }
        tx.displaced(ifindex, std::move(prog), slot.flags);
    }
    return {};
}

// Who may open a pin of this attachment (bpf/bpffs.h): the maps the preload
// library updates for its sockets, the counters it reads, nothing else.
PinAccess pin_access(const std::string& name) {
    if (name == XLANE_MAP_FLOWS || name == XLANE_MAP_BINDS || name == XLANE_MAP_XSKS)
        return PinAccess::kGroupReadWrite;
    if (name == XLANE_MAP_STATS) return PinAccess::kGroupRead;
    return PinAccess::kRootOnly;
}

Status pin_fd(int fd, const std::string& path, AttachTransaction& tx) {
    if (int err = bpf_obj_pin(fd, path.c_str()); err != 0)
        return make_error(err, "cannot pin " + path);
    tx.pinned(path);
    return restrict_pin(path, pin_access(path.substr(path.rfind('/') + 1)));
}

Error link_error(int err, const AttachRequest& request) {
    const std::string mode(to_string(request.mode));
    if (err == -EOPNOTSUPP || err == -EINVAL)
        return make_error(err, "cannot attach in " + mode + " mode on " + request.ifname +
                                   (request.mode == XdpMode::native
                                        ? " (the driver has no native XDP: try --mode skb)"
                                        : ""));
    if (err == -EBUSY || err == -EEXIST)
        return make_error(err, "cannot attach on " + request.ifname +
                                   ": another XDP program or link holds the interface "
                                   "(see `ip link show " +
                                   request.ifname + "`)");
    return make_error(err, "cannot attach the XDP program on " + request.ifname);
}

// Whether the program must be loaded multi-buffer: a native attachment on
// a device whose MTU is above what a single buffer holds on every driver
// (a veth refuses a single-buffer program beyond ~3,500 bytes: ERANGE).
// Not otherwise: for a multi-buffer program generic XDP copies every frame
// with too little headroom (an AF_XDP transmit's, a kernel UDP send's) into
// page-pool pages. Measured on 2026-12-05 in skb mode, both ends of a veth
// (bench/udp, two runs each, back to back): UDP ping-pong p50 2.15 against
// 1.91-1.95 us, 64 B throughput 540-544k against 593-616k msg/s, and the
// kernel path's 64 B throughput 236-241k against 255-257k; an iperf3 stream
// with 64 KB TSO segments into a preloaded server 14.7-18.6 against
// 18.8-20.4 Gbit/s.
Result<bool> needs_multi_buffer(const AttachRequest& request) {
    if (request.mode != XdpMode::native) return false;
    auto mtu = interface_mtu(request.ifname);
    if (!mtu) return mtu.error();
    return mtu.value() > kSingleBufferMtu;
}

}  // namespace

Result<AttachOutcome> attach_xdp(const AttachRequest& request) {
    if (auto allowed = require_bpf_admin("attaching " + request.ifname); !allowed)
        return allowed.error();
    if (auto fs = ensure_bpffs(true); !fs) return fs.error();
    auto ifindex = interface_index(request.ifname);
    if (!ifindex) return ifindex.error();
    auto pin_dir = interface_pin_dir(request.ifname);
    if (!pin_dir) return pin_dir.error();
    auto state = query_xdp(ifindex.value());
    if (!state) return state.error();

    AttachOutcome outcome;
    outcome.ifindex = ifindex.value();
    outcome.pin_dir = pin_dir.value();

    // Ours already? The pinned program is the one the kernel runs.
    if (path_exists(pin_dir.value())) {
        auto ns = current_netns_id();
        if (!ns) return ns.error();
        const Attachment pinned = read_attachment_pins(ns.value(), request.ifname);
        if (pinned.prog_id != 0 && pinned.prog_id == state->prog_id) {
            const auto mode = state->xlane_mode();
            if (mode == request.mode) {
                outcome.already_attached = true;
                outcome.prog_id = pinned.prog_id;
                return outcome;
            }
            return make_error(0, "already attached to " + request.ifname + " in " + state->mode +
                                     " mode; run `xlane detach " + request.ifname +
                                     "` first to change the mode");
        }
        if (pinned.ifindex != 0 && pinned.ifindex != ifindex.value())
            return make_error(0, "the pins at " + pin_dir.value() +
                                     " belong to an XDP link on another device (ifindex " +
                                     std::to_string(pinned.ifindex) + "); run `xlane detach " +
                                     request.ifname + "` first");
        // The attachment these pins describe is gone (device recreated, link
        // removed): they steer nothing, clear them and start afresh.
        if (auto removed = remove_pin_dir(pin_dir.value()); !removed) return removed.error();
        outcome.removed_stale_pins = true;
    }

    if (state->attached()) {
        const std::string foreign = request.ifname + " already has a foreign XDP program (" +
                                    program_label(state->prog_id) + ", " + state->mode + " mode";
        if (const uint32_t link = xdp_link_id(ifindex.value(), state->prog_id); link != 0)
            return make_error(0, foreign + ") attached through bpf_link id " +
                                     std::to_string(link) +
                                     ", which even --force cannot replace: only its owner can "
                                     "remove it (see `bpftool link show id " +
                                     std::to_string(link) + "`)");
        if (!request.force)
            return make_error(0, foreign +
                                     "); xlane will not replace it: remove it (`ip link "
                                     "set dev " +
                                     request.ifname + " xdp off`) or use --force");
    }

    // Load before touching anything: a verifier rejection changes nothing.
    auto multi_buffer = needs_multi_buffer(request);
    if (!multi_buffer) return multi_buffer.error();
    auto skel = XdpSteerSkeleton::open_and_load("xdp_steer", [&](xdp_steer* object) {
        if (multi_buffer.value())
            bpf_program__set_flags(object->progs.xlane_steer,
                                   bpf_program__flags(object->progs.xlane_steer) |
                                       BPF_F_XDP_HAS_FRAGS);
    });
    if (!skel) return skel.error();
    outcome.multi_buffer = multi_buffer.value();

    // Declared before the link fd: destroyed after it, so a rollback runs once
    // our link is closed and the interface is free for a displaced program.
    AttachTransaction tx;
    const std::string parent = pin_dir.value().substr(0, pin_dir.value().rfind('/'));
    if (auto made = make_dirs(parent); !made) return made.error();
    // Also when they already existed: the `xlane` group may be newer than them.
    for (const std::string& dir : {pin_root(), parent})
        if (auto st = restrict_pin(dir, PinAccess::kGroupRead); !st) return st.error();
    // The final mkdir is the claim on the interface: a concurrent attach
    // loses here, before it could touch (or roll back) the winner's pins.
    if (::mkdir(pin_dir.value().c_str(), 0700) != 0) {
        if (errno == EEXIST)
            return make_error(EEXIST, "another xlane attach on " + request.ifname +
                                          " is in progress (" + pin_dir.value() + " appeared)");
        return errno_error("cannot create directory " + pin_dir.value());
    }
    tx.created_dir(pin_dir.value());
    if (auto st = restrict_pin(pin_dir.value(), PinAccess::kGroupRead); !st) return st.error();

    const int prog_fd = bpf_program__fd(skel.value()->progs.xlane_steer);
    if (auto st = pin_fd(prog_fd, pins::path(pin_dir.value(), pins::kProgram), tx); !st)
        return st.error();
    const bpf_map* maps[] = {skel.value()->maps.xlane_flows, skel.value()->maps.xlane_binds,
                             skel.value()->maps.xlane_xsks, skel.value()->maps.xlane_stats};
    for (size_t i = 0; i < pins::kMaps.size(); ++i) {
        auto st = pin_fd(bpf_map__fd(maps[i]), pins::path(pin_dir.value(), pins::kMaps[i]), tx);
        if (!st) return st.error();
    }

    if (state->attached()) {
        if (auto st = displace_foreign(request.ifname, ifindex.value(), state.value(), tx); !st)
            return st.error();
        outcome.replaced_prog_id = state->prog_id;
    }

    LIBBPF_OPTS(bpf_link_create_opts, link_opts, .flags = xdp_mode_flags(request.mode));
    const int link_fd =
        bpf_link_create(prog_fd, static_cast<int>(ifindex.value()), BPF_XDP, &link_opts);
    if (link_fd < 0) return link_error(link_fd, request);
    UniqueFd link(link_fd);
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) == 0) outcome.prog_id = info.id;
    tx.attached(ifindex.value(), outcome.prog_id);
    if (auto st = pin_fd(link.get(), pins::path(pin_dir.value(), pins::kLink), tx); !st)
        return st.error();

    tx.commit();
    return outcome;
}

Result<DetachOutcome> detach_xdp(const std::string& ifname) {
    if (auto allowed = require_bpf_admin("detaching " + ifname); !allowed) return allowed.error();
    if (auto fs = ensure_bpffs(false); !fs) return fs.error();
    auto pin_dir = interface_pin_dir(ifname);
    if (!pin_dir) return pin_dir.error();
    if (!path_exists(pin_dir.value())) {
        auto ns = current_netns_id();
        return make_error(0, "not attached to " + ifname + " in this network namespace (" +
                                 (ns ? ns.value() : std::string("?")) +
                                 "); see `xlane status` for attachments elsewhere");
    }
    auto ns = current_netns_id();
    if (!ns) return ns.error();
    const Attachment pinned = read_attachment_pins(ns.value(), ifname);

    // Unlinking the link pin drops the last reference to the link, which
    // detaches the program; the map pins go with it.
    if (auto removed = remove_pin_dir(pin_dir.value()); !removed) return removed.error();
    remove_empty_parents(pin_dir.value());

    if (pinned.ifindex != 0 && pinned.prog_id != 0) {
        if (!wait_until_detached(pinned.ifindex, pinned.prog_id))
            return make_error(0, "pins removed, but the program (id " +
                                     std::to_string(pinned.prog_id) + ") is still attached to " +
                                     ifname + ": another process holds its XDP link open");
    }
    return DetachOutcome{pin_dir.value(), pinned.prog_id};
}

Result<std::vector<std::string>> remove_stale_attachments() {
    auto attachments = list_attachments();
    if (!attachments) return attachments.error();
    std::vector<std::string> removed;
    for (const auto& a : attachments.value()) {
        if (!a.stale()) continue;
        if (auto st = remove_pin_dir(a.pin_dir); !st) return st.error();
        remove_empty_parents(a.pin_dir);
        removed.push_back(a.pin_dir);
    }
    return removed;
}

}  // namespace xlane
