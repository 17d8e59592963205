// `xlane attach IFACE [--mode auto|native|skb] [--force]` and `xlane detach IFACE`:
// thin wrappers over userspace/xdp/attach.h, plus the queue a veth peer
// needs in front of a native XDP attachment (userspace/net/veth_peer.h).
#include <bpf/libbpf.h>
#include <net/if.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "commands.h"
#include "engine/stale_steering.h"
#include "net/veth_peer.h"
#include "steering/steering_table.h"
#include "xdp/attach.h"
#include "xdp/netdev.h"
#include "xdp/xdp_query.h"
#include "xlane/abi.h"

namespace xlane::cli {

namespace {

struct AttachOptions {
    std::string ifname;
    std::string mode = "auto";
    bool force = false;
    bool leave_peer = false;
};

struct DetachOptions {
    std::string ifname;
    bool stale = false;
};

// libbpf's own messages (verifier logs, kernel extack) only under XLANE_DEBUG:
// otherwise the one-line error of the command says what went wrong.
int libbpf_debug_print(libbpf_print_level /*level*/, const char* format, va_list args) {
    if (std::getenv("XLANE_DEBUG") == nullptr) return 0;
    return std::vfprintf(stderr, format, args);
}

// A native attachment on a veth receives through a 256-slot ring; a peer
// without a queue drops what does not fit (net/veth_peer.h). Best effort:
// the attachment itself stands either way, and a failure says how to fix it.
void queue_veth_peer(const AttachOptions& options, unsigned ifindex) {
    auto found = net::find_veth_peer(ifindex);
    if (!found) {
        std::fprintf(stderr, "xlane: warning: cannot look up the veth peer of %s: %s\n",
                     options.ifname.c_str(), found.error().describe().c_str());
        return;
    }
    if (!found->has_value() || found->value().qdisc != "noqueue") return;
    const net::VethPeer& peer = found->value();
    const std::string where = net::describe_peer_namespace(peer);
    const std::string manual =
        "tc qdisc add dev " + peer.name + " root " + net::peer_queue_kind(peer);
    if (options.leave_peer) {
        std::fprintf(stderr,
                     "xlane: warning: the veth peer %s %s has no queue: frames it sends beyond "
                     "the 256 slots of %s's XDP ring are dropped. Left as it is (--leave-peer); "
                     "`%s` in its namespace would queue them\n",
                     peer.name.c_str(), where.c_str(), options.ifname.c_str(), manual.c_str());
        return;
    }
    if (auto added = net::add_peer_queue(peer); !added) {
        std::fprintf(stderr,
                     "xlane: warning: the veth peer %s %s has no queue, so frames it sends beyond "
                     "the 256 slots of %s's XDP ring are dropped, and xlane could not give it "
                     "one: %s. Run `%s` in its namespace\n",
                     peer.name.c_str(), where.c_str(), options.ifname.c_str(),
                     added.error().describe().c_str(), manual.c_str());
        return;
    }
    std::printf(
        "gave the veth peer %s %s a queue (root qdisc %s, handle %x:): what it sends beyond the "
        "256 slots of %s's XDP ring now waits instead of being dropped; `xlane detach %s` "
        "removes it\n",
        peer.name.c_str(), where.c_str(), net::peer_queue_kind(peer), net::kPeerQueueHandle >> 16,
        options.ifname.c_str(), options.ifname.c_str());
    if (!net::kernel_has_veth_backpressure())
        std::fprintf(stderr,
                     "xlane: warning: kernels before 6.16 drop at a full veth XDP ring even when "
                     "the peer has a queue\n");
}

// The peer whose queue `xlane detach` may have to remove, looked up while
// the interface still exists; nullopt for other devices and vanished ones.
std::optional<net::VethPeer> veth_peer_of(const std::string& ifname) {
    const unsigned ifindex = if_nametoindex(ifname.c_str());
    if (ifindex == 0) return std::nullopt;
    auto found = net::find_veth_peer(ifindex);
    if (!found) {
        std::fprintf(stderr, "xlane: warning: cannot look up the veth peer of %s: %s\n",
                     ifname.c_str(), found.error().describe().c_str());
        return std::nullopt;
    }
    return found.value();
}

void unqueue_veth_peer(const std::optional<net::VethPeer>& peer) {
    if (!peer) return;
    auto removed = net::remove_peer_queue(*peer);
    if (!removed) {
        std::fprintf(stderr, "xlane: warning: cannot remove the queue of the veth peer %s: %s\n",
                     peer->name.c_str(), removed.error().describe().c_str());
    } else if (removed.value()) {
        std::printf("removed the queue xlane had given the veth peer %s %s\n", peer->name.c_str(),
                    net::describe_peer_namespace(*peer).c_str());
    }
}

// `--mode auto`: the mode xlane already runs in on the interface, else skb
// on a veth and native on any other device (skb where the driver has no
// native XDP, see run_attach). On a veth, a native program
// costs what generic XDP does not: the veth turns its peer's TSO and GSO off
// (a kernel TCP stream into the veth, measured on 2026-12-05: 4.9 Gbit/s
// against 17.5-19.7 in skb mode), receives through a 256-frame ring that
// drops unless the peer has a queue (net/veth_peer.h), and measured slower
// for the fast path too (README, "Native vs generic XDP on a veth"). Frames
// larger than a UMEM frame, which generic XDP sees after the peer's TSO,
// reach the AF_XDP socket as chains (XDP_USE_SG).
Result<XdpMode> resolve_mode(const AttachOptions& options, std::string& why) {
    if (options.mode != "auto") return parse_xdp_mode(options.mode);
    auto ifindex = interface_index(options.ifname);
    if (!ifindex) return ifindex.error();
    if (auto state = query_xdp(ifindex.value()); state && state->attached()) {
        const auto mode = state->xlane_mode();
        if (mode && bpf_program_name(state->prog_id) == XLANE_XDP_PROG_NAME) {
            why = "the mode xlane runs in there";
            return *mode;
        }
    }
    auto peer = net::find_veth_peer(ifindex.value());
    if (!peer) return peer.error();
    if (peer->has_value()) {
        why = "a veth: generic XDP keeps its peer's offloads and needs no ring";
        return XdpMode::skb;
    }
    why = "the driver runs the program";
    return XdpMode::native;
}

void run_attach(const AttachOptions& options) {
    libbpf_set_print(libbpf_debug_print);
    std::string why;
    auto mode = resolve_mode(options, why);
    if (!mode) fail(mode.error());
    auto outcome = attach_xdp(AttachRequest{options.ifname, mode.value(), options.force});
    // auto on a driver without native XDP (a bridge, a tunnel): generic XDP.
    // The failed attach left nothing behind, a displaced program included.
    if (!outcome && options.mode == "auto" && mode.value() == XdpMode::native &&
        outcome.error().errnum == EOPNOTSUPP) {
        mode = XdpMode::skb;
        why = "the driver has no native XDP";
        outcome = attach_xdp(AttachRequest{options.ifname, mode.value(), options.force});
    }
    if (!outcome) fail(outcome.error());
    const std::string mode_name(to_string(mode.value()));
    const std::string mode_text =
        options.mode == "auto" ? mode_name + " mode (auto: " + why + ")" : mode_name + " mode";
    const auto& o = outcome.value();
    const bool native = mode.value() == XdpMode::native;
    if (o.already_attached) {
        // Re-attaching is also how an operator tidies up: steering entries of
        // processes that died (SIGKILL) go, live ones stay.
        engine::StaleRemoval removed;
        if (auto table = SteeringTable::open(o.pin_dir); table)
            if (auto r = engine::remove_dead_owner_entries(table.value()); r) removed = r.value();
        std::printf("xlane is already attached to %s in %s mode (program id %u): nothing to do\n",
                    options.ifname.c_str(), mode_name.c_str(), o.prog_id);
        if (removed.binds + removed.flows != 0)
            std::printf("removed steering entries of dead processes: %zu binds, %zu flows\n",
                        removed.binds, removed.flows);
        if (native) queue_veth_peer(options, o.ifindex);  // a peer that lost its queue gets one
        return;
    }
    if (o.removed_stale_pins)
        std::printf("removed stale pins of a previous attachment in %s\n", o.pin_dir.c_str());
    if (o.replaced_prog_id != 0)
        std::printf("--force: detached the foreign XDP program id %u from %s\n", o.replaced_prog_id,
                    options.ifname.c_str());
    std::printf("attached %s (program id %u) to %s (ifindex %u) in %s; pinned in %s\n",
                XLANE_XDP_PROG_NAME, o.prog_id, options.ifname.c_str(), o.ifindex,
                mode_text.c_str(), o.pin_dir.c_str());
    if (o.multi_buffer)
        std::printf("loaded multi-buffer: the MTU of %s is above %u, so jumbo frames reach the "
                    "program in fragments\n",
                    options.ifname.c_str(), kSingleBufferMtu);
    if (native) queue_veth_peer(options, o.ifindex);
}

void run_detach(const DetachOptions& options) {
    if (options.ifname.empty() && !options.stale)
        fail(make_error(EINVAL, "detach needs an interface name or --stale"));
    if (!options.ifname.empty()) {
        const auto peer = veth_peer_of(options.ifname);
        auto outcome = detach_xdp(options.ifname);
        if (!outcome) fail(outcome.error());
        std::printf("detached xlane from %s (program id %u); removed %s\n", options.ifname.c_str(),
                    outcome->prog_id, outcome->pin_dir.c_str());
        unqueue_veth_peer(peer);
    }
    if (options.stale) {
        auto removed = remove_stale_attachments();
        if (!removed) fail(removed.error());
        for (const auto& dir : removed.value()) std::printf("removed stale pins %s\n", dir.c_str());
        if (removed->empty()) std::printf("no stale attachments\n");
    }
}

}  // namespace

void add_attach_commands(CLI::App& app) {
    auto attach_options = std::make_shared<AttachOptions>();
    CLI::App* attach = app.add_subcommand(
        "attach",
        "Load xlane's XDP steering program on an interface of this network namespace and pin "
        "it (with its maps and link) under /sys/fs/bpf/xlane/<netns>/<iface>/");
    attach->add_option("IFACE", attach_options->ifname, "Interface to attach to")->required();
    attach
        ->add_option("--mode", attach_options->mode,
                     "auto (default): the mode xlane already runs in, else skb on a veth, "
                     "native elsewhere (skb where the driver has none); native: in the driver; "
                     "skb: generic XDP, works on any device")
        ->check(CLI::IsMember({"auto", "native", "skb"}));
    attach->add_flag("--force", attach_options->force,
                     "Replace a foreign XDP program attached through netlink (ip link)");
    attach->add_flag(
        "--leave-peer", attach_options->leave_peer,
        "On a veth whose peer has no queue, do not give it one (native mode; by "
        "default xlane adds a root qdisc, mq or pfifo_fast with handle 7861:, so that frames "
        "beyond the 256-slot XDP ring wait instead of being dropped)");
    attach->callback([attach_options] { run_attach(*attach_options); });

    auto detach_options = std::make_shared<DetachOptions>();
    CLI::App* detach = app.add_subcommand(
        "detach", "Detach xlane from an interface of this network namespace and remove its pins");
    detach->add_option("IFACE", detach_options->ifname, "Interface to detach from");
    detach->add_flag("--stale", detach_options->stale,
                     "Also remove the pins of attachments whose interface is gone (any namespace)");
    detach->callback([detach_options] { run_detach(*detach_options); });
}

}  // namespace xlane::cli
