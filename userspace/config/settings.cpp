#include "config/settings.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>

namespace xlane::config {

namespace {

constexpr uint32_t kMaxSpinUs = 1'000'000;
constexpr uint32_t kMaxPollOsRatio = 1'000;
constexpr std::array<std::string_view, 5> kLogLevelNames{"error", "warn", "info", "debug", "trace"};

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; };
               return lower(x) == lower(y);
           });
}

Status store_path(std::string_view value, std::string& out) {
    out = std::string(value);
    return {};
}

Status store_config(std::string_view value, Settings& settings) {
    return store_path(value, settings.config_path);
}

// A whole number from 0 to `max` into `out`; `unit` ends the error for
// anything else ("not a whole number" + " of microseconds").
Status store_bounded(std::string_view value, uint32_t max, const char* unit, uint32_t& out) {
    uint64_t number = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (ec == std::errc::result_out_of_range ||
        (ec == std::errc{} && end == value.data() + value.size() && number > max))
        return make_error(0, "above the maximum, " + std::to_string(max));
    if (ec != std::errc{} || end != value.data() + value.size())
        return make_error(0, std::string("not a whole number") + unit);
    out = static_cast<uint32_t>(number);
    return {};
}

Status store_spin_us(std::string_view value, Settings& settings) {
    return store_bounded(value, kMaxSpinUs, " of microseconds", settings.spin_us);
}

Status store_poll_os_ratio(std::string_view value, Settings& settings) {
    return store_bounded(value, kMaxPollOsRatio, "", settings.poll_os_ratio);
}

// A switch written as 1 or 0 (the variables that turn a path on).
Status store_one_or_zero(std::string_view value, bool& out) {
    if (value == "1" || value == "0") {
        out = value == "1";
        return {};
    }
    return make_error(0, "not 1 or 0");
}

Status store_spin_kernel(std::string_view value, Settings& settings) {
    return store_one_or_zero(value, settings.spin_kernel);
}

Status store_log_level(std::string_view value, Settings& settings) {
    for (size_t i = 0; i < kLogLevelNames.size(); ++i) {
        if (equal_ignoring_case(value, kLogLevelNames[i])) {
            settings.log_level = static_cast<LogLevel>(i);
            return {};
        }
    }
    return make_error(0, "not a log level");
}

Status store_log_file(std::string_view value, Settings& settings) {
    return store_path(value, settings.log_file);
}

Status store_stats_file(std::string_view value, Settings& settings) {
    return store_path(value, settings.stats_file);
}

Status store_bpffs(std::string_view value, Settings& settings) {
    if (!value.starts_with('/')) return make_error(0, "not an absolute path");
    return store_path(value, settings.bpffs);
}

Status store_tcp(std::string_view value, Settings& settings) {
    if (value == "auto") {
        settings.tcp = false;
        settings.tcp_auto = true;
        return {};
    }
    if (value != "1" && value != "0") return make_error(0, "not auto, 1 or 0");
    settings.tcp = value == "1";
    settings.tcp_auto = false;
    return {};
}

Status store_tcp_fork(std::string_view value, Settings& settings) {
    if (value != "share" && value != "keep") return make_error(0, "not share or keep");
    settings.tcp_fork_share = value == "share";
    return {};
}

// A fraction written as a decimal, 0 to 1 ("0.02", "1", ".5").
Status parse_fraction(std::string_view text, double& out) {
    double number = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (ec != std::errc{} || end != text.data() + text.size() || !(number >= 0 && number <= 1))
        return make_error(0, "'" + std::string(text) + "' is not a fraction from 0 to 1");
    out = number;
    return {};
}

// "drop=P,dup=P,reorder=P,seed=N", items in any order, each at most once.
Status store_tcp_faults(std::string_view value, Settings& settings) {
    TcpFaults faults;
    faults.enabled = true;
    uint32_t seen = 0;
    while (!value.empty()) {
        const size_t comma = value.find(',');
        const std::string_view item = value.substr(0, comma);
        value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
        const size_t eq = item.find('=');
        if (eq == std::string_view::npos)
            return make_error(0, "'" + std::string(item) + "' is not KEY=VALUE");
        const std::string_view key = item.substr(0, eq);
        const std::string_view text = item.substr(eq + 1);
        static constexpr std::array<std::string_view, 4> kKeys{"drop", "dup", "reorder", "seed"};
        const auto known = std::find(kKeys.begin(), kKeys.end(), key);
        if (known == kKeys.end()) return make_error(0, "unknown key '" + std::string(key) + "'");
        const uint32_t bit = 1u << (known - kKeys.begin());
        if ((seen & bit) != 0) return make_error(0, "'" + std::string(key) + "' given twice");
        seen |= bit;
        Status status;
        if (key == "drop") status = parse_fraction(text, faults.drop);
        if (key == "dup") status = parse_fraction(text, faults.duplicate);
        if (key == "reorder") status = parse_fraction(text, faults.reorder);
        if (key == "seed") {
            const auto [end, ec] =
                std::from_chars(text.data(), text.data() + text.size(), faults.seed);
            if (ec != std::errc{} || end != text.data() + text.size())
                status = make_error(0, "seed '" + std::string(text) + "' is not a whole number");
        }
        if (!status) return status;
    }
    settings.tcp_faults = faults;
    return {};
}

Status store_debug(std::string_view value, Settings& settings) {
    for (std::string_view yes : {"1", "yes", "true", "on"}) {
        if (equal_ignoring_case(value, yes)) {
            settings.debug = true;
            return {};
        }
    }
    for (std::string_view no : {"0", "no", "false", "off"}) {
        if (equal_ignoring_case(value, no)) {
            settings.debug = false;
            return {};
        }
    }
    return make_error(0, "not a yes/no value");
}

// THE table. Order is the order of the documentation; `from_environment`
// bits index it.
constexpr std::array<SettingSpec, 12> kSpecs{{
    {"XLANE_CONFIG", "/etc/xlane.conf", "", "a file path",
     "The rules file: which sockets are offloaded and which stay with the kernel (see "
     "[Rules](#rules)). A file named here must be readable; the default file may be absent, "
     "and then only the built-in rules apply.",
     store_config},
    {"XLANE_SPIN_US", "100", "", "0 to 1000000 microseconds",
     "How long a blocking call on an offloaded socket (recv, accept, poll, epoll_wait, ...) "
     "busy-polls before it sleeps. A reply that arrives while spinning costs no wake-up; the "
     "default covers a request/response round trip on a local network. 0 sleeps at once. A "
     "spin ends early, in a sleep, when other threads keep wanting its CPU (another thread "
     "ran at three yields, each within 20 ms of the last, one every 10 us from 10 us on), as "
     "Linux's busy polling ends on need_resched().",
     store_spin_us},
    {"XLANE_SPIN_KERNEL", "0", "", "1 or 0",
     "1: blocking receives (read, recv, recvfrom, recvmsg, recvmmsg) on sockets the kernel "
     "serves (kernel and loopback paths) and poll, select and epoll_wait calls without an "
     "offloaded socket also spin for `XLANE_SPIN_US` before they sleep, polling the kernel "
     "without blocking (one system call per round). It saves the wake-up of a reply that "
     "comes within the spin, at the cost of a busy CPU; a timeout may end up to the spin "
     "time late. Signals interrupt the spin as they would the sleep (EINTR).",
     store_spin_kernel},
    {"XLANE_POLL_OS_RATIO", "10", "", "0 to 1000",
     "poll, select and pselect with an offloaded TCP socket that is ready: the kernel is "
     "asked about the other descriptors of the call (a system call) once in this many calls "
     "in a row, the others answer from the fast path alone, with every other descriptor "
     "reported not ready. A descriptor of the kernel's that becomes ready meanwhile is "
     "reported at most this many calls late, never lost. A call that finds no offloaded "
     "socket ready, or that passes a signal mask, always asks the kernel. 0 or 1: every call "
     "asks.",
     store_poll_os_ratio},
    {"XLANE_LOG_LEVEL", "warn", "", "error, warn, info, debug or trace, in any case",
     "The least severe message libxlane.so logs. `info` adds the path chosen for each socket "
     "and the rule that chose it; `debug` and `trace` are for bug reports.",
     store_log_level},
    {"XLANE_LOG_FILE", "", "standard error", "a file path; `%p` becomes the process id",
     "Where libxlane.so writes its log (appended to, created when missing).", store_log_file},
    {"XLANE_STATS_FILE", "", "none", "a file path; `%p` becomes the process id",
     "A file each preloaded process appends one JSON line per socket to, with its path "
     "decision and counters, when the socket closes and, for sockets still open, when the "
     "process exits (`xlane stats` and `xlane sockets` read live processes from shared memory).",
     store_stats_file},
    {"XLANE_BPFFS", "/sys/fs/bpf", "", "an absolute path",
     "The bpffs under which xlane pins its programs and maps (`xlane/<netns>/<ifname>/`). The "
     "tool, the preload library and the tests must agree on it.",
     store_bpffs},
    {"XLANE_TCP", "auto", "", "auto, 1 or 0",
     "Whether TCP sockets may take the fast path (user-space TCP over AF_XDP, see the "
     "README's \"TCP fast path\"), decided at `connect`/`listen` by the same rules as UDP. "
     "`auto`: when the process has CAP_NET_ADMIN, which the hand-over of its connections to "
     "the kernel at fork() and at exit takes (TCP_REPAIR); without it TCP stays on the "
     "kernel (or loopback) path. 1: always (without CAP_NET_ADMIN a fork leaves established "
     "connections with the parent, and exit waits up to 2 s for them to finish). 0: never.",
     store_tcp},
    {"XLANE_TCP_FORK", "share", "", "share or keep",
     "What fork() does with the process's established fast-path TCP connections. `share`: "
     "each is handed to the kernel first (TCP_REPAIR, which needs CAP_NET_ADMIN; no segment "
     "on the wire), so parent and child both use it as they would any kernel socket; the "
     "connection stays on the kernel path. `keep`: the parent keeps it on the fast path and "
     "the child's copy is an unconnected socket, for programs whose children never touch "
     "their parent's connections (redis-server's background save). Connections the kernel "
     "cannot take (not ESTABLISHED, a FIN sent or received) stay with the parent either way.",
     store_tcp_fork},
    {"XLANE_TCP_FAULTS", "", "none", "`drop=P,dup=P,reorder=P,seed=N`, P a fraction from 0 to 1",
     "Test hook only: drops, duplicates and reorders the fast-path TCP segments received and "
     "sent, at those rates, from that seed (a reordered segment is held back 5 ms).",
     store_tcp_faults},
    {"XLANE_DEBUG", "0", "", "1, yes, true, on or 0, no, false, off, in any case",
     "The `xlane` command adds the source location to its error messages.", store_debug},
}};

static_assert(kSpecs.size() <= 32, "Settings::from_environment has one bit per variable");

int spec_index(std::string_view name) {
    for (size_t i = 0; i < kSpecs.size(); ++i)
        if (kSpecs[i].name == name) return static_cast<int>(i);
    return -1;
}

std::string problem_text(const SettingSpec& spec, std::string_view value, const Error& error) {
    return std::string(spec.name) + "='" + std::string(value) + "': " + error.message +
           " (accepted: " + std::string(spec.accepted) + ")";
}

}  // namespace

std::string_view to_string(LogLevel level) {
    return kLogLevelNames[static_cast<size_t>(level)];
}

std::string SettingSpec::default_text() const {
    return std::string(shown_default.empty() ? default_value : shown_default);
}

std::span<const SettingSpec> setting_specs() {
    return kSpecs;
}

const SettingSpec* find_setting(std::string_view name) {
    const int index = spec_index(name);
    return index < 0 ? nullptr : &kSpecs[static_cast<size_t>(index)];
}

Settings Settings::defaults() {
    Settings settings;
    for (const auto& spec : kSpecs) {
        // Checked by the unit tests: every default parses.
        if (!spec.default_value.empty()) (void)spec.store(spec.default_value, settings);
    }
    return settings;
}

bool Settings::came_from_environment(std::string_view variable) const {
    const int index = spec_index(variable);
    return index >= 0 && (from_environment >> index & 1u) != 0;
}

LoadedSettings load_settings(const EnvLookup& lookup) {
    LoadedSettings loaded{Settings::defaults(), {}};
    for (size_t i = 0; i < kSpecs.size(); ++i) {
        const SettingSpec& spec = kSpecs[i];
        const std::string name(spec.name);
        const char* raw = lookup(name.c_str());
        if (raw == nullptr || raw[0] == '\0') continue;
        const std::string_view value(raw);
        // Store into a copy so that a rejected value leaves the default intact.
        Settings candidate = loaded.settings;
        if (auto stored = spec.store(value, candidate); !stored) {
            loaded.problems.push_back(make_error(0, problem_text(spec, value, stored.error()) +
                                                        "; using the default, " +
                                                        spec.default_text()));
            continue;
        }
        loaded.settings = std::move(candidate);
        loaded.settings.from_environment |= 1u << i;
    }
    return loaded;
}

LoadedSettings load_settings_from_environment() {
    return load_settings([](const char* name) { return ::secure_getenv(name); });
}

Status apply_setting(Settings& settings, std::string_view name, std::string_view value) {
    const int index = spec_index(name);
    if (index < 0) return make_error(0, "unknown variable " + std::string(name));
    const SettingSpec& spec = kSpecs[static_cast<size_t>(index)];
    if (value.empty()) return make_error(0, std::string(name) + " has no value");
    Settings candidate = settings;
    if (auto stored = spec.store(value, candidate); !stored)
        return make_error(0, problem_text(spec, value, stored.error()));
    settings = std::move(candidate);
    return {};
}

std::string expand_pid(std::string_view path_template, pid_t pid) {
    std::string path;
    for (size_t i = 0; i < path_template.size(); ++i) {
        const char c = path_template[i];
        if (c == '%' && i + 1 < path_template.size()) {
            const char next = path_template[i + 1];
            if (next == 'p') {
                path += std::to_string(pid);
                ++i;
                continue;
            }
            if (next == '%') {
                path += '%';
                ++i;
                continue;
            }
        }
        path += c;
    }
    return path;
}

}  // namespace xlane::config
