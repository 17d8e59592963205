// `xlane attach IFACE [--mode native|skb] [--force]` and `xlane detach IFACE`:
// thin wrappers over userspace/xdp/attach.h.
#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "commands.h"
#include "engine/stale_steering.h"
#include "steering/steering_table.h"
#include "xdp/attach.h"
#include "xlane/abi.h"

namespace xlane::cli {

namespace {

struct AttachOptions {
    std::string ifname;
    std::string mode = "native";
    bool force = false;
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

void run_attach(const AttachOptions& options) {
    libbpf_set_print(libbpf_debug_print);
    auto mode = parse_xdp_mode(options.mode);
    if (!mode) fail(mode.error());
    auto outcome = attach_xdp(AttachRequest{options.ifname, mode.value(), options.force});
    if (!outcome) fail(outcome.error());
    const auto& o = outcome.value();
    if (o.already_attached) {
        // Re-attaching is also how an operator tidies up: steering entries of
        // processes that died (SIGKILL) go, live ones stay.
        engine::StaleRemoval removed;
        if (auto table = SteeringTable::open(o.pin_dir); table)
            if (auto r = engine::remove_dead_owner_entries(table.value()); r) removed = r.value();
        std::printf("xlane is already attached to %s in %s mode (program id %u): nothing to do\n",
                    options.ifname.c_str(), options.mode.c_str(), o.prog_id);
        if (removed.binds + removed.flows != 0)
            std::printf("removed steering entries of dead processes: %zu binds, %zu flows\n",
                        removed.binds, removed.flows);
        return;
    }
    if (o.removed_stale_pins)
        std::printf("removed stale pins of a previous attachment in %s\n", o.pin_dir.c_str());
    if (o.replaced_prog_id != 0)
        std::printf("--force: detached the foreign XDP program id %u from %s\n", o.replaced_prog_id,
                    options.ifname.c_str());
    std::printf("attached %s (program id %u) to %s (ifindex %u) in %s mode; pinned in %s\n",
                XLANE_XDP_PROG_NAME, o.prog_id, options.ifname.c_str(), o.ifindex,
                options.mode.c_str(), o.pin_dir.c_str());
}

void run_detach(const DetachOptions& options) {
    if (options.ifname.empty() && !options.stale)
        fail(make_error(EINVAL, "detach needs an interface name or --stale"));
    if (!options.ifname.empty()) {
        auto outcome = detach_xdp(options.ifname);
        if (!outcome) fail(outcome.error());
        std::printf("detached xlane from %s (program id %u); removed %s\n", options.ifname.c_str(),
                    outcome->prog_id, outcome->pin_dir.c_str());
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
                     "native: in the driver (default); skb: generic XDP, works on any device")
        ->check(CLI::IsMember({"native", "skb"}));
    attach->add_flag("--force", attach_options->force,
                     "Replace a foreign XDP program attached through netlink (ip link)");
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
