// `xlane status [--json]` (attachments, modes, map fill, counters) and
// `xlane flows [--json]` (steering entries): read-only views over the pins.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "commands.h"
#include "engine/stale_steering.h"
#include "loopback_section.h"
#include "stats/stats_reader.h"
#include "steering/steering_table.h"
#include "xdp/attachments.h"
#include "xdp/pinned_maps.h"
#include "xdp/xdp_counters.h"

namespace xlane::cli {

namespace {

using json = nlohmann::ordered_json;

constexpr const char* kStaleFix =
    "stale pins: run `xlane detach --stale` (or `xlane detach IFACE` in the interface's "
    "namespace) to remove them";

std::string netns_label(const Attachment& a) {
    return a.netns_name.empty() ? a.netns_id : a.netns_name + " (" + a.netns_id + ")";
}

struct MapView {
    const char* name;
    std::optional<MapFill> fill;
};

struct AttachmentView {
    Attachment attachment;
    std::vector<MapView> maps;
    std::optional<XdpCounters> counters;
    std::string maps_error;
    engine::StaleRemoval removed;  // steering entries of dead processes, removed now
};

AttachmentView gather(Attachment a) {
    AttachmentView view{std::move(a), {}, std::nullopt, {}, {}};
    // A preloaded process killed with SIGKILL leaves its binds and flows in
    // the maps; with its AF_XDP socket gone they already pass to the kernel
    // (PASS_NO_XSK), and `status` removes them so that `flows` and the fill
    // levels show the truth. Entries of live processes are never touched.
    if (auto table = SteeringTable::open(view.attachment.pin_dir); table) {
        if (auto removed = engine::remove_dead_owner_entries(table.value()); removed)
            view.removed = removed.value();
    }
    auto maps = PinnedXdpMaps::open(view.attachment.pin_dir);
    if (!maps) {
        view.maps_error = maps.error().describe();
        return view;
    }
    const std::pair<const char*, int> fds[] = {{XLANE_MAP_FLOWS, maps->flows.get()},
                                               {XLANE_MAP_BINDS, maps->binds.get()},
                                               {XLANE_MAP_XSKS, maps->xsks.get()}};
    for (const auto& [name, fd] : fds) {
        auto fill = map_fill(fd);
        view.maps.push_back(MapView{name, fill ? std::optional(fill.value()) : std::nullopt});
    }
    if (auto counters = read_xdp_counters(maps->stats.get()); counters)
        view.counters = counters.value();
    else
        view.maps_error = counters.error().describe();
    return view;
}

json to_json(const AttachmentView& v) {
    const Attachment& a = v.attachment;
    json out = {
        {"netns", a.netns_name.empty() ? json(nullptr) : json(a.netns_name)},
        {"netns_id", a.netns_id},
        {"interface", a.ifname},
        {"ifindex", a.ifindex == 0 ? json(nullptr) : json(a.ifindex)},
        {"prog_id", a.prog_id == 0 ? json(nullptr) : json(a.prog_id)},
        {"link_id", a.link_id == 0 ? json(nullptr) : json(a.link_id)},
        {"mode", a.xdp ? json(a.xdp->mode) : json(nullptr)},
        {"pin_dir", a.pin_dir},
        {"stale", a.stale()},
        {"problem", a.stale() ? json(a.problem) : json(nullptr)},
    };
    json maps = json::object();
    for (const auto& m : v.maps) {
        if (!m.fill) continue;
        maps[m.name] = {{"entries", m.fill->entries ? json(*m.fill->entries) : json(nullptr)},
                        {"max_entries", m.fill->max_entries}};
    }
    out["maps"] = maps;
    out["removed_dead_entries"] = {{"binds", v.removed.binds}, {"flows", v.removed.flows}};
    json counters = json::object();
    if (v.counters) {
        for (const auto& c : *v.counters)
            counters[std::string(c.reason)] = {{"verdict", c.redirect ? "redirect" : "pass"},
                                               {"packets", c.packets},
                                               {"bytes", c.bytes}};
    }
    out["counters"] = counters;
    if (!v.maps_error.empty()) out["maps_error"] = v.maps_error;
    return out;
}

void print_human(const AttachmentView& v) {
    const Attachment& a = v.attachment;
    std::printf("%s  netns %s\n", a.ifname.c_str(), netns_label(a).c_str());
    if (a.stale()) std::printf("  STALE: %s\n  %s\n", a.problem.c_str(), kStaleFix);
    std::printf("  ifindex %s  program %s id %s  link id %s  mode %s\n",
                a.ifindex ? std::to_string(a.ifindex).c_str() : "-", XLANE_XDP_PROG_NAME,
                a.prog_id ? std::to_string(a.prog_id).c_str() : "-",
                a.link_id ? std::to_string(a.link_id).c_str() : "-",
                a.xdp ? a.xdp->mode.c_str() : "unknown (namespace not reachable)");
    std::printf("  pins %s\n", a.pin_dir.c_str());
    if (v.removed.binds + v.removed.flows != 0)
        std::printf("  removed steering entries of dead processes: %zu binds, %zu flows\n",
                    v.removed.binds, v.removed.flows);
    if (!v.maps_error.empty()) std::printf("  maps: %s\n", v.maps_error.c_str());
    for (const auto& m : v.maps) {
        if (!m.fill) continue;
        const std::string used = m.fill->entries ? std::to_string(*m.fill->entries) : "?";
        std::printf("  map %-12s %8s / %u%s\n", m.name, used.c_str(), m.fill->max_entries,
                    m.fill->entries ? "" : "  (slots not readable from user space)");
    }
    if (v.counters) {
        std::printf("  %-18s %-8s %14s %16s\n", "reason", "verdict", "packets", "bytes");
        for (const auto& c : *v.counters)
            std::printf("  %-18s %-8s %14llu %16llu\n", std::string(c.reason).c_str(),
                        c.redirect ? "redirect" : "pass",
                        static_cast<unsigned long long>(c.packets),
                        static_cast<unsigned long long>(c.bytes));
    }
}

void run_status_xdp(bool as_json);

// Preloaded processes in one line (or object); `xlane sockets` has the detail.
json preloaded_json(const stats::ReadReport& report) {
    json paths = json::object();
    size_t sockets = 0;
    for (const auto& p : report.processes)
        for (const auto& s : p.sockets) {
            ++sockets;
            const std::string path = stats::name(s.path);
            paths[path] = paths.value(path, 0) + 1;
        }
    return {{"processes", report.processes.size()}, {"sockets", sockets}, {"paths", paths},
            {"hidden_processes", report.unreadable}};
}

void print_preloaded() {
    auto report = stats::read_segments();
    if (!report) {
        std::printf("preloaded: %s\n", report.error().describe().c_str());
        return;
    }
    const json summary = preloaded_json(report.value());
    std::string paths;
    for (const auto& [path, count] : summary["paths"].items())
        paths += (paths.empty() ? "" : ", ") + std::to_string(count.get<size_t>()) + " " + path;
    std::printf("preloaded: %zu process(es), %zu socket(s)%s%s (`xlane sockets`, `xlane stats`)\n",
                report->processes.size(), summary["sockets"].get<size_t>(),
                paths.empty() ? "" : ": ", paths.c_str());
}

void run_status(bool as_json) {
    run_status_xdp(as_json);
    if (!as_json) {
        print_loopback_section();
        print_preloaded();
    }
}

void run_status_xdp(bool as_json) {
    auto attachments = list_attachments();
    if (!attachments) fail(attachments.error());
    std::vector<AttachmentView> views;
    for (auto& a : attachments.value()) views.push_back(gather(std::move(a)));
    if (as_json) {
        json out = {{"attachments", json::array()},
                    {"dispatcher",
                     "none: one xlane program per interface (libxdp's "
                     "multi-program dispatcher needs freplace)"}};
        for (const auto& v : views) out["attachments"].push_back(to_json(v));
        out["loopback"] = loopback_section_json();
        if (auto report = stats::read_segments(); report)
            out["preloaded"] = preloaded_json(report.value());
        else
            out["preloaded"] = {{"error", report.error().describe()}};
        std::printf("%s\n", out.dump(2).c_str());
        return;
    }
    if (views.empty()) {
        std::printf("no XDP attachments (attach one with `xlane attach IFACE`)\n");
        return;
    }
    for (size_t i = 0; i < views.size(); ++i) {
        if (i != 0) std::printf("\n");
        print_human(views[i]);
    }
}

struct SteeringRow {
    const Attachment* attachment;
    std::string kind;  // "bind" or "flow"
    std::string proto;
    std::string local;
    std::string remote;  // "" for binds
    xlane_steer_value owner;
};

void run_flows(bool as_json) {
    auto attachments = list_attachments();
    if (!attachments) fail(attachments.error());
    std::vector<SteeringRow> rows;
    for (const auto& a : attachments.value()) {
        auto table = SteeringTable::open(a.pin_dir);
        if (!table) continue;  // a stale directory without maps: `status` reports it
        auto binds = table->binds();
        if (!binds) fail(binds.error());
        for (const auto& b : binds.value())
            rows.push_back({&a, "bind", std::string(to_string(b.key.proto)),
                            b.key.local.to_string(), "", b.owner});
        auto flows = table->flows();
        if (!flows) fail(flows.error());
        for (const auto& f : flows.value())
            rows.push_back({&a, "flow", std::string(to_string(f.key.proto)),
                            f.key.local.to_string(), f.key.remote.to_string(), f.owner});
    }
    if (as_json) {
        json out = {{"entries", json::array()}};
        for (const auto& r : rows) {
            out["entries"].push_back({
                {"netns",
                 r.attachment->netns_name.empty() ? json(nullptr) : json(r.attachment->netns_name)},
                {"netns_id", r.attachment->netns_id},
                {"interface", r.attachment->ifname},
                {"kind", r.kind},
                {"proto", r.proto},
                {"local", r.local},
                {"remote", r.remote.empty() ? json(nullptr) : json(r.remote)},
                {"owner_pid", r.owner.owner_pid},
                {"owner_alive", SteerOwner::alive(r.owner)},
                {"test_entry", (r.owner.flags & XLANE_STEER_TEST_ENTRY) != 0},
            });
        }
        std::printf("%s\n", out.dump(2).c_str());
        return;
    }
    if (rows.empty()) {
        std::printf("no steering entries\n");
        return;
    }
    std::printf("%-24s %-14s %-5s %-5s %-40s %-40s %s\n", "netns", "interface", "kind", "proto",
                "local", "remote", "owner");
    for (const auto& r : rows) {
        const std::string ns =
            r.attachment->netns_name.empty() ? r.attachment->netns_id : r.attachment->netns_name;
        std::string owner = "pid " + std::to_string(r.owner.owner_pid);
        if (!SteerOwner::alive(r.owner)) owner += " (gone)";
        if (r.owner.flags & XLANE_STEER_TEST_ENTRY) owner += " [test]";
        std::printf("%-24s %-14s %-5s %-5s %-40s %-40s %s\n", ns.c_str(),
                    r.attachment->ifname.c_str(), r.kind.c_str(), r.proto.c_str(), r.local.c_str(),
                    r.remote.empty() ? "*" : r.remote.c_str(), owner.c_str());
    }
}

}  // namespace

void add_status_commands(CLI::App& app) {
    auto status_json = std::make_shared<bool>(false);
    CLI::App* status = app.add_subcommand(
        "status",
        "Show XDP attachments in every network namespace: interface, program, mode, map fill "
        "levels and per-reason counters; flags stale pins");
    status->add_flag("--json", *status_json, "Print JSON instead of text");
    status->callback([status_json] { run_status(*status_json); });

    auto flows_json = std::make_shared<bool>(false);
    CLI::App* flows = app.add_subcommand(
        "flows", "List the steering entries (binds by 3-tuple, flows by 5-tuple) and their owners");
    flows->add_flag("--json", *flows_json, "Print JSON instead of text");
    flows->callback([flows_json] { run_flows(*flows_json); });
}

}  // namespace xlane::cli
