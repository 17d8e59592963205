// `xlane sockets [--pid P] [--json]`: every preloaded process's sockets, the
// path serving each and why; `xlane stats [--pid P] [--watch SEC] [--json]`:
// their counters and rates, XDP verdict counters and the loopback counters.
// Both read the processes' shared-memory segments (userspace/stats) and
// remove the segments of processes that are gone.
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <tuple>

#include "commands.h"
#include "loopback_section.h"
#include "stats/stats_reader.h"
#include "xdp/attachments.h"
#include "xdp/pinned_maps.h"
#include "xdp/xdp_counters.h"

namespace xlane::cli {

namespace {

using json = nlohmann::ordered_json;
using stats::Counter;

struct Options {
    int pid = 0;  // 0: every process
    bool as_json = false;
    double watch_seconds = 0;  // 0: one sample
    unsigned count = 0;        // samples with --watch, 0: until interrupted
};

std::string protocol_text(int protocol) {
    char buffer[8];
    return stats::protocol_name(static_cast<uint8_t>(protocol), buffer);
}

std::string family_text(int family) {
    return family == AF_INET6 ? "inet6" : family == AF_INET ? "inet" : std::to_string(family);
}

std::string reason_text(const stats::SocketSnapshot& s) {
    if (s.reason == stats::Reason::none) return "-";
    std::string text = stats::name(s.reason);
    if (!s.reason_text.empty()) text += ": " + s.reason_text;
    return text;
}

stats::ReadReport read_or_fail(const Options& options) {
    stats::ReadOptions read;
    if (options.pid != 0) read.pid = options.pid;
    auto report = stats::read_segments(read);
    if (!report) fail(report.error());
    return std::move(report.value());
}

// What went on besides the table: on stderr, so stdout stays a table.
void print_notes(const stats::ReadReport& report) {
    for (const auto& path : report.removed)
        std::fprintf(stderr, "xlane: removed %s (its process is gone)\n", path.c_str());
    for (const auto& problem : report.problems)
        std::fprintf(stderr, "xlane: %s\n", problem.describe().c_str());
    if (report.unreadable != 0)
        std::fprintf(stderr,
                     "xlane: %zu process(es) of other users not shown: their stats are readable "
                     "by their owner and root only\n",
                     report.unreadable);
}

json socket_identity_json(const stats::ProcessSnapshot& p, const stats::SocketSnapshot& s) {
    return {{"pid", p.pid},
            {"comm", p.comm},
            {"fd", s.fd},
            {"proto", protocol_text(s.protocol)},
            {"family", family_text(s.family)},
            {"local", s.local.set ? json(stats::to_string(s.local)) : json(nullptr)},
            {"remote", s.remote.set ? json(stats::to_string(s.remote)) : json(nullptr)},
            {"path", stats::name(s.path)},
            {"reason", stats::name(s.reason)},
            {"reason_text", s.reason_text}};
}

json counters_json(const stats::SocketSnapshot& s) {
    json counters = json::object();
    for (size_t c = 0; c < stats::kCounterCount; ++c)
        counters[stats::name(static_cast<Counter>(c))] = s.counters[c];
    return counters;
}

// The process's fast-path counters per interface and ring/UMEM use per AF_XDP socket.
json usage_json(const stats::ProcessSnapshot& p) {
    json interfaces = json::array();
    for (const auto& port : p.ports)
        interfaces.push_back({{"interface", port.ifname},
                              {"queues", port.queues},
                              {"rx_frames", port.rx_frames},
                              {"rx_bytes", port.rx_bytes},
                              {"rx_delivered", port.rx_delivered},
                              {"rx_dropped_no_socket", port.rx_dropped_no_socket},
                              {"rx_dropped_queue_full", port.rx_dropped_queue_full},
                              {"rx_dropped_bad", port.rx_dropped_bad},
                              {"rx_dropped_other_proto", port.rx_dropped_other_proto},
                              {"tx_datagrams", port.tx_datagrams},
                              {"tx_frames", port.tx_frames},
                              {"tx_bytes", port.tx_bytes},
                              {"tx_ring_full", port.tx_ring_full},
                              {"rx_joined", port.rx_joined},
                              {"rx_partial_checksum", port.rx_partial_checksum}});
    json queues = json::array();
    for (const auto& q : p.queues) {
        auto ring = [](uint32_t used, uint32_t size) { return json{{"used", used}, {"size", size}}; };
        queues.push_back({{"interface", q.ifname},
                          {"queue", q.queue},
                          {"rx_ring", ring(q.rx_ring_used, q.rx_ring_size)},
                          {"tx_ring", ring(q.tx_ring_used, q.tx_ring_size)},
                          {"fill_ring", ring(q.fill_ring_used, q.fill_ring_size)},
                          {"completion_ring", ring(q.completion_ring_used, q.completion_ring_size)},
                          {"umem_frames", q.umem_frames},
                          {"umem_frames_free", q.umem_frames_free},
                          {"umem_frames_in_use", q.umem_frames - q.umem_frames_free},
                          {"tx_in_flight", q.tx_in_flight},
                          {"kernel", {{"rx_dropped", q.kernel_rx_dropped},
                                      {"rx_invalid", q.kernel_rx_invalid},
                                      {"tx_invalid", q.kernel_tx_invalid},
                                      {"rx_ring_full", q.kernel_rx_ring_full},
                                      {"fill_ring_empty", q.kernel_fill_ring_empty},
                                      {"tx_ring_empty", q.kernel_tx_ring_empty}}}});
    }
    return {{"interfaces", interfaces},
            {"queues", queues},
            {"sampled_realtime_ns", p.usage_realtime_ns == 0 ? json(nullptr) : json(p.usage_realtime_ns)}};
}

// ---- xlane sockets ----

void run_sockets(const Options& options) {
    const stats::ReadReport report = read_or_fail(options);
    if (options.as_json) {
        json out = {{"sockets", json::array()}, {"processes", json::array()},
                    {"removed_stale", report.removed}, {"hidden_processes", report.unreadable}};
        for (const auto& p : report.processes) {
            for (const auto& s : p.sockets) {
                json socket = socket_identity_json(p, s);
                socket["counters"] = counters_json(s);
                out["sockets"].push_back(socket);
            }
            json process = {{"pid", p.pid}, {"comm", p.comm}};
            process.update(usage_json(p));
            out["processes"].push_back(process);
        }
        std::printf("%s\n", out.dump(2).c_str());
        print_notes(report);
        return;
    }
    size_t sockets = 0;
    for (const auto& p : report.processes) sockets += p.sockets.size();
    if (sockets == 0) {
        std::printf("no sockets published by preloaded processes%s (start one with "
                    "`xlane run -- PROGRAM`)\n",
                    options.pid != 0 ? " with this pid" : "");
    } else {
        std::printf("%-8s %-15s %5s %-5s %-28s %-28s %-8s %s\n", "PID", "COMMAND", "FD", "PROTO",
                    "LOCAL", "REMOTE", "PATH", "REASON");
        for (const auto& p : report.processes)
            for (const auto& s : p.sockets)
                std::printf("%-8d %-15s %5d %-5s %-28s %-28s %-8s %s\n", p.pid, p.comm.c_str(), s.fd,
                            protocol_text(s.protocol).c_str(), stats::to_string(s.local).c_str(),
                            stats::to_string(s.remote).c_str(), stats::name(s.path),
                            reason_text(s).c_str());
    }
    print_notes(report);
}

// ---- xlane stats ----

// One sample of everything `xlane stats` shows.
struct Sample {
    std::chrono::steady_clock::time_point taken;
    stats::ReadReport report;
    struct Xdp {
        Attachment attachment;
        std::optional<XdpCounters> counters;
        std::string error;
    };
    std::vector<Xdp> xdp;
    std::string xdp_error;
};

Sample take_sample(const Options& options) {
    Sample sample;
    sample.report = read_or_fail(options);
    sample.taken = std::chrono::steady_clock::now();
    auto attachments = list_attachments();
    if (!attachments) {
        sample.xdp_error = attachments.error().describe();
        return sample;
    }
    for (auto& a : attachments.value()) {
        Sample::Xdp entry{std::move(a), std::nullopt, {}};
        auto maps = PinnedXdpMaps::open(entry.attachment.pin_dir);
        if (!maps) {
            entry.error = maps.error().describe();
        } else if (auto counters = read_xdp_counters(maps->stats.get()); counters) {
            entry.counters = counters.value();
        } else {
            entry.error = counters.error().describe();
        }
        sample.xdp.push_back(std::move(entry));
    }
    return sample;
}

// A socket across two samples: same process (pid + start time), same slot,
// same open time (a reused slot is another socket).
using SocketKey = std::tuple<int, uint64_t, uint32_t, uint64_t>;
using XdpKey = std::tuple<std::string, std::string, std::string>;  // netns, ifname, reason

struct Previous {
    double seconds = 0;
    std::map<SocketKey, std::array<uint64_t, stats::kCounterCount>> sockets;
    std::map<XdpKey, uint64_t> xdp_packets;
};

Previous remember(const Sample& sample, double seconds) {
    Previous previous;
    previous.seconds = seconds;
    for (const auto& p : sample.report.processes)
        for (const auto& s : p.sockets)
            previous.sockets[{p.pid, p.start_time, s.slot, s.opened_realtime_ns}] = s.counters;
    for (const auto& x : sample.xdp)
        if (x.counters)
            for (const auto& c : *x.counters)
                previous.xdp_packets[{x.attachment.netns_id, x.attachment.ifname, std::string(c.reason)}] =
                    c.packets;
    return previous;
}

// Per-second rate of a counter since the previous sample, nullopt without one.
std::optional<double> rate(const Previous* previous, const SocketKey& key, const stats::SocketSnapshot& s,
                           Counter c) {
    if (previous == nullptr || previous->seconds <= 0) return std::nullopt;
    auto it = previous->sockets.find(key);
    const uint64_t before = it == previous->sockets.end() ? 0 : it->second[static_cast<size_t>(c)];
    return static_cast<double>(s.counter(c) - before) / previous->seconds;
}

json stats_json(const Sample& sample, const Previous* previous) {
    json out = {{"interval_seconds", previous ? json(previous->seconds) : json(nullptr)},
                {"processes", json::array()}};
    for (const auto& p : sample.report.processes) {
        json process = {{"pid", p.pid}, {"comm", p.comm}, {"uid", p.uid}, {"start_time", p.start_time},
                        {"segment", p.segment}};
        process.update(usage_json(p));
        process["sockets"] = json::array();
        for (const auto& s : p.sockets) {
            json socket = socket_identity_json(p, s);
            socket.erase("pid");
            socket.erase("comm");
            socket["counters"] = counters_json(s);
            if (previous != nullptr) {
                const SocketKey key{p.pid, p.start_time, s.slot, s.opened_realtime_ns};
                json rates = json::object();
                for (size_t c = 0; c < stats::kCounterCount; ++c)
                    rates[std::string(stats::name(static_cast<Counter>(c))) + "_per_second"] =
                        *rate(previous, key, s, static_cast<Counter>(c));
                socket["rates"] = rates;
            }
            process["sockets"].push_back(socket);
        }
        out["processes"].push_back(process);
    }
    json xdp = json::array();
    for (const auto& x : sample.xdp) {
        json entry = {{"netns_id", x.attachment.netns_id},
                      {"netns", x.attachment.netns_name.empty() ? json(nullptr) : json(x.attachment.netns_name)},
                      {"interface", x.attachment.ifname}};
        if (!x.error.empty()) entry["error"] = x.error;
        json counters = json::object();
        if (x.counters)
            for (const auto& c : *x.counters) {
                json counter = {{"verdict", c.redirect ? "redirect" : "pass"},
                                {"packets", c.packets},
                                {"bytes", c.bytes}};
                if (previous != nullptr && previous->seconds > 0) {
                    auto it = previous->xdp_packets.find(
                        {x.attachment.netns_id, x.attachment.ifname, std::string(c.reason)});
                    const uint64_t before = it == previous->xdp_packets.end() ? 0 : it->second;
                    counter["packets_per_second"] = static_cast<double>(c.packets - before) / previous->seconds;
                }
                counters[std::string(c.reason)] = counter;
            }
        entry["counters"] = counters;
        xdp.push_back(entry);
    }
    out["xdp"] = xdp;
    if (!sample.xdp_error.empty()) out["xdp_error"] = sample.xdp_error;
    out["loopback"] = loopback_section_json();
    out["removed_stale"] = sample.report.removed;
    out["hidden_processes"] = sample.report.unreadable;
    return out;
}

std::string human_rate(double per_second) {
    char text[32];
    if (per_second >= 1e9) std::snprintf(text, sizeof(text), "%.1fG", per_second / 1e9);
    else if (per_second >= 1e6) std::snprintf(text, sizeof(text), "%.1fM", per_second / 1e6);
    else if (per_second >= 1e4) std::snprintf(text, sizeof(text), "%.1fk", per_second / 1e3);
    else std::snprintf(text, sizeof(text), "%.0f", per_second);
    return text;
}

void print_stats(const Sample& sample, const Previous* previous) {
    auto u = [](uint64_t v) { return static_cast<unsigned long long>(v); };
    if (previous != nullptr) std::printf("--- last %.1f s ---\n", previous->seconds);
    bool any_socket = false;
    for (const auto& p : sample.report.processes) {
        if (p.sockets.empty() && p.ports.empty()) continue;
        any_socket = true;
        std::printf("pid %d %s\n", p.pid, p.comm.c_str());
        for (const auto& port : p.ports)
            std::printf("  port %s: %u queue(s), rx %llu frames (%llu delivered; dropped: %llu queue "
                        "full, %llu no socket, %llu bad, %llu other proto; %llu multi-buffer, "
                        "%llu with a partial checksum), tx %llu frames, tx ring full %llu\n",
                        port.ifname, port.queues, u(port.rx_frames), u(port.rx_delivered),
                        u(port.rx_dropped_queue_full), u(port.rx_dropped_no_socket),
                        u(port.rx_dropped_bad), u(port.rx_dropped_other_proto),
                        u(port.rx_joined), u(port.rx_partial_checksum), u(port.tx_frames),
                        u(port.tx_ring_full));
        for (const auto& q : p.queues)
            std::printf("    queue %s/%u: rings used rx %u/%u tx %u/%u fill %u/%u comp %u/%u, UMEM "
                        "%llu/%llu frames in use; kernel: rx dropped %llu, rx ring full %llu, fill "
                        "ring empty %llu\n",
                        q.ifname, q.queue, q.rx_ring_used, q.rx_ring_size, q.tx_ring_used, q.tx_ring_size,
                        q.fill_ring_used, q.fill_ring_size, q.completion_ring_used,
                        q.completion_ring_size, u(q.umem_frames - q.umem_frames_free),
                        u(q.umem_frames), u(q.kernel_rx_dropped), u(q.kernel_rx_ring_full),
                        u(q.kernel_fill_ring_empty));
        if (p.sockets.empty()) continue;
        if (previous != nullptr)
            std::printf("  %4s %-5s %-24s %-24s %-7s %9s %9s %9s %9s %11s %11s %11s\n", "FD", "PROTO",
                        "LOCAL", "REMOTE", "PATH", "RX pkt/s", "RX B/s", "TX pkt/s", "TX B/s", "DROP rx/tx",
                        "EAGAIN rx/tx", "POLL hit/miss");
        else
            std::printf("  %4s %-5s %-24s %-24s %-7s %9s %11s %9s %11s %11s %11s %11s\n", "FD", "PROTO",
                        "LOCAL", "REMOTE", "PATH", "RX pkts", "RX bytes", "TX pkts", "TX bytes", "DROP rx/tx",
                        "EAGAIN rx/tx", "POLL hit/miss");
        for (const auto& s : p.sockets) {
            const std::string drops = std::to_string(s.counter(Counter::rx_drops)) + "/" +
                                      std::to_string(s.counter(Counter::tx_drops));
            const std::string eagain = std::to_string(s.counter(Counter::rx_eagain)) + "/" +
                                       std::to_string(s.counter(Counter::tx_eagain));
            const std::string polls = std::to_string(s.counter(Counter::poll_hits)) + "/" +
                                      std::to_string(s.counter(Counter::poll_misses));
            if (previous != nullptr) {
                const SocketKey key{p.pid, p.start_time, s.slot, s.opened_realtime_ns};
                auto r = [&](Counter c) { return human_rate(*rate(previous, key, s, c)); };
                std::printf("  %4d %-5s %-24s %-24s %-7s %9s %9s %9s %9s %11s %11s %11s\n", s.fd,
                            protocol_text(s.protocol).c_str(), stats::to_string(s.local).c_str(),
                            stats::to_string(s.remote).c_str(), stats::name(s.path), r(Counter::rx_packets).c_str(), r(Counter::rx_bytes).c_str(),
                            r(Counter::tx_packets).c_str(), r(Counter::tx_bytes).c_str(), drops.c_str(),
                            eagain.c_str(), polls.c_str());
            } else {
                std::printf("  %4d %-5s %-24s %-24s %-7s %9llu %11llu %9llu %11llu %11s %11s %11s\n", s.fd,
                            protocol_text(s.protocol).c_str(), stats::to_string(s.local).c_str(),
                            stats::to_string(s.remote).c_str(), stats::name(s.path), u(s.counter(Counter::rx_packets)),
                            u(s.counter(Counter::rx_bytes)), u(s.counter(Counter::tx_packets)),
                            u(s.counter(Counter::tx_bytes)), drops.c_str(), eagain.c_str(), polls.c_str());
            }
        }
    }
    if (!any_socket) std::printf("no sockets published by preloaded processes\n");

    if (!sample.xdp_error.empty()) std::printf("xdp: %s\n", sample.xdp_error.c_str());
    for (const auto& x : sample.xdp) {
        std::printf("xdp %s  netns %s\n", x.attachment.ifname.c_str(),
                    x.attachment.netns_name.empty() ? x.attachment.netns_id.c_str()
                                                    : x.attachment.netns_name.c_str());
        if (!x.error.empty()) std::printf("  %s\n", x.error.c_str());
        if (!x.counters) continue;
        for (const auto& c : *x.counters) {
            if (c.packets == 0) continue;  // the table in `xlane status` lists every reason
            std::string per_second;
            if (previous != nullptr && previous->seconds > 0) {
                auto it = previous->xdp_packets.find(
                    {x.attachment.netns_id, x.attachment.ifname, std::string(c.reason)});
                const uint64_t before = it == previous->xdp_packets.end() ? 0 : it->second;
                per_second = "  " + human_rate(static_cast<double>(c.packets - before) / previous->seconds) +
                             " pkt/s";
            }
            std::printf("  %-18s %-8s %12llu packets %14llu bytes%s\n", std::string(c.reason).c_str(),
                        c.redirect ? "redirect" : "pass", u(c.packets), u(c.bytes), per_second.c_str());
        }
    }
    print_loopback_section();
}

void run_stats(const Options& options) {
    Sample sample = take_sample(options);
    if (options.watch_seconds <= 0) {
        if (options.as_json)
            std::printf("%s\n", stats_json(sample, nullptr).dump(2).c_str());
        else
            print_stats(sample, nullptr);
        print_notes(sample.report);
        return;
    }
    // --watch: one sample every SEC seconds, each showing rates since the one before
    // (JSON: one compact document per line).
    for (unsigned printed = 0; options.count == 0 || printed < options.count; ++printed) {
        std::this_thread::sleep_for(std::chrono::duration<double>(options.watch_seconds));
        Sample next = take_sample(options);
        const double seconds = std::chrono::duration<double>(next.taken - sample.taken).count();
        const Previous previous = remember(sample, seconds);
        if (options.as_json)
            std::printf("%s\n", stats_json(next, &previous).dump().c_str());
        else
            print_stats(next, &previous);
        print_notes(next.report);
        std::fflush(stdout);
        sample = std::move(next);
    }
}

void add_common(CLI::App* command, Options& options) {
    command->add_option("--pid", options.pid, "Only this process")->check(CLI::PositiveNumber);
    command->add_flag("--json", options.as_json, "Print JSON instead of text");
}

}  // namespace

void add_sockets_commands(CLI::App& app) {
    auto sockets_options = std::make_shared<Options>();
    CLI::App* sockets = app.add_subcommand(
        "sockets",
        "List the sockets of every preloaded process: protocol, addresses, the path serving each "
        "(fast, loopback, kernel) and why it is not on the fast path");
    add_common(sockets, *sockets_options);
    sockets->callback([sockets_options] { run_sockets(*sockets_options); });

    auto stats_options = std::make_shared<Options>();
    CLI::App* stats = app.add_subcommand(
        "stats",
        "Show per-socket counters of preloaded processes (with rates under --watch), their ring "
        "and UMEM use, the XDP verdict counters per interface and the loopback counters");
    add_common(stats, *stats_options);
    CLI::Option* watch =
        stats->add_option("--watch", stats_options->watch_seconds,
                          "Sample every SEC seconds and show rates since the previous sample")
            ->check(CLI::Range(0.1, 3600.0));
    stats->add_option("--count", stats_options->count,
                      "With --watch: stop after N samples (default: until interrupted)")
        ->check(CLI::PositiveNumber)
        ->needs(watch);
    stats->callback([stats_options] { run_stats(*stats_options); });
}

}  // namespace xlane::cli
