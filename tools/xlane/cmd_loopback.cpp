// `xlane loopback enable|disable`: the sockmap path for TCP between two
// sockets of this host, and the loopback section of `xlane status`.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "loopback/loopback_path.h"
#include "loopback_section.h"

namespace xlane::cli {
namespace {

using json = nlohmann::ordered_json;

struct EnableArgs {
    std::string cgroup;
    std::string ports;
    uint32_t stream_small = kDefaultStreamSmall;
    uint32_t stream_run = kDefaultStreamRun;
    uint32_t spin_reads = kDefaultSpinReads;
    bool spin_reads_given = false;
};

void run_enable(const EnableArgs& args) {
    LoopbackOptions options;
    options.cgroup = args.cgroup;
    if (!args.ports.empty()) {
        auto ports = parse_port_list(args.ports);
        if (!ports) fail(ports.error());
        options.ports = std::move(ports.value());
    }
    options.stream_small = args.stream_small;
    options.stream_run = args.stream_run;
    options.spin_reads = args.spin_reads;
    options.spin_reads_explicit = args.spin_reads_given;
    std::string spin_policy_note;
    if (auto enabled = enable_loopback(options, &spin_policy_note); !enabled)
        fail(enabled.error());
    if (!spin_policy_note.empty()) std::fprintf(stderr, "xlane: %s\n", spin_policy_note.c_str());
    auto state = read_loopback_state();
    std::printf("loopback path enabled on cgroup %s (pins %s)\n",
                state && !state->cgroup_path.empty() ? state->cgroup_path.c_str() : "?",
                state ? state->pin_dir.c_str() : "?");
}

void run_disable() {
    auto disabled = disable_loopback();
    if (!disabled) fail(disabled.error());
    std::printf(disabled.value() ? "loopback path disabled (connections already accelerated "
                                   "continue on the kernel path)\n"
                                 : "loopback path was not enabled in this network namespace\n");
}

std::string port_list(const std::vector<uint16_t>& ports) {
    if (ports.empty()) return "all";
    std::string out;
    for (size_t i = 0; i < ports.size(); ++i) {
        size_t j = i;
        while (j + 1 < ports.size() && ports[j + 1] == ports[j] + 1) ++j;
        if (!out.empty()) out += ",";
        out += std::to_string(ports[i]);
        if (j > i) out += "-" + std::to_string(ports[j]);
        i = j;
    }
    return out;
}

}  // namespace

json loopback_section_json() {
    auto state = read_loopback_state();
    if (!state) return {{"error", state.error().describe()}};
    const LoopbackState& s = state.value();
    json out = {{"enabled", s.enabled}, {"netns", s.netns_id}, {"pins", s.pin_dir}};
    if (!s.enabled) return out;
    out["inserting"] = s.inserting;
    out["pass_all"] = s.pass_all;
    out["cgroup"] = s.cgroup_path.empty() ? json(nullptr) : json(s.cgroup_path);
    out["cgroup_id"] = s.cgroup_id;
    out["ports"] = s.ports.empty() ? json("all") : json(s.ports);
    out["stream_policy"] = {{"small_bytes", s.stream_small}, {"run", s.stream_run}};
    out["spin_policy"] = {{"empty_reads", s.spin_reads}};
    out["sockets"] = s.sockets;
    json counters = json::object();
    for (uint32_t id = 0; id < XLANE_LB_COUNTER_COUNT; ++id)
        counters[loopback_counter_name(id)] = {{"count", s.counters[id].packets},
                                               {"bytes", s.counters[id].bytes}};
    out["counters"] = counters;
    return out;
}

void print_loopback_section() {
    auto state = read_loopback_state();
    if (!state) {
        std::printf("loopback: cannot read state: %s\n", state.error().describe().c_str());
        return;
    }
    const LoopbackState& s = state.value();
    if (!s.enabled) {
        std::printf("loopback: disabled (enable with `xlane loopback enable`)\n");
        return;
    }
    auto count = [&](uint32_t id) {
        return static_cast<unsigned long long>(s.counters[id].packets);
    };
    std::printf("loopback: %s  netns %s  cgroup %s\n",
                s.pass_all ? "draining" : (s.inserting ? "enabled" : "not inserting"),
                s.netns_id.c_str(), s.cgroup_path.empty() ? "?" : s.cgroup_path.c_str());
    const std::string sizes = s.stream_small == kStreamAnySize
                                  ? std::string("sends")
                                  : "sends < " + std::to_string(s.stream_small) + " B";
    std::printf("  pins %s  ports %s  stream policy: %u %s in a row -> kernel\n",
                s.pin_dir.c_str(), port_list(s.ports).c_str(), s.stream_run, sizes.c_str());
    if (s.spin_reads == 0)
        std::printf("  spin policy: off\n");
    else
        std::printf("  spin policy: %u empty receives in a row -> the peer sends via TCP\n",
                    s.spin_reads);
    std::printf("  sockets now %u  inserted %llu  insert failed %llu\n", s.sockets,
                count(XLANE_LB_INSERTED), count(XLANE_LB_INSERT_FAILED));
    std::printf("  skipped: non-local %llu  port %llu  early data %llu\n",
                count(XLANE_LB_SKIP_NONLOCAL), count(XLANE_LB_SKIP_PORT),
                count(XLANE_LB_SKIP_EARLY_DATA));
    std::printf("  redirected %llu messages, %llu bytes\n", count(XLANE_LB_REDIRECTED),
                static_cast<unsigned long long>(s.counters[XLANE_LB_REDIRECTED].bytes));
    std::printf("  fall-backs: miss %llu  kernel path %llu  streams moved %llu  pass-all %llu\n",
                count(XLANE_LB_MISS), count(XLANE_LB_KERNEL), count(XLANE_LB_DEMOTED),
                count(XLANE_LB_PASS_ALL));
    std::printf("  sockets given back to plain TCP %llu  receiving on TCP for SO_RCVLOWAT %llu"
                "  spinning receivers %llu\n",
                count(XLANE_LB_RELEASED), count(XLANE_LB_RCVLOWAT), count(XLANE_LB_SPINNER));
}

void add_loopback_commands(CLI::App& app) {
    auto* loopback = app.add_subcommand("loopback", "Short-circuit TCP between local sockets");
    loopback->require_subcommand(1);

    auto args = std::make_shared<EnableArgs>();
    auto* enable = loopback->add_subcommand(
        "enable", "Redirect sends of local TCP connections into the peer socket (sockmap)");
    enable->add_option("--cgroup", args->cgroup,
                       "cgroup-v2 directory whose processes are accelerated (default: the root "
                       "of the unified hierarchy)");
    enable->add_option("--ports", args->ports,
                       "Only connections with one of these ports, e.g. 80,5000-5010 "
                       "(default: all)");
    enable
        ->add_option("--stream-small", args->stream_small,
                     "Only sends below this size count towards a one-way stream (default: "
                     "every send, 4294967295)");
    enable
        ->add_option("--stream-run", args->stream_run,
                     "That many sends in a row without a reply move the socket to "
                     "the kernel path (0: never)")
        ->capture_default_str();
    auto* spin_reads = enable->add_option(
        "--spin-reads", args->spin_reads,
        "A socket whose non-blocking receives come back empty that many times in a row is "
        "spinning: its peer sends via TCP, whose path never waits for the spinner's socket "
        "lock (0: never, and no tracepoint program, which adds about 65 ns to every receive "
        "on the host; by default the policy is left out on kernels without the tracepoint)");
    spin_reads->capture_default_str();
    enable->callback([args, spin_reads] {
        args->spin_reads_given = spin_reads->count() > 0;
        run_enable(*args);
    });

    auto* disable = loopback->add_subcommand(
        "disable", "Stop inserting, pass everything to the kernel path, remove the pins");
    disable->callback([] { run_disable(); });

    auto status_json = std::make_shared<bool>(false);
    auto* status = loopback->add_subcommand("status", "The loopback section of `xlane status`");
    status->add_flag("--json", *status_json, "Print JSON instead of text");
    status->callback([status_json] {
        if (*status_json)
            std::printf("%s\n", loopback_section_json().dump(2).c_str());
        else
            print_loopback_section();
    });
}

}  // namespace xlane::cli
