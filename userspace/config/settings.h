// Settings: every XLANE_* environment variable, typed and validated through
// ONE table (setting_specs) that both parses the environment and documents it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace xlane::config {

enum class LogLevel : uint8_t { error, warn, info, debug, trace };

[[nodiscard]] std::string_view to_string(LogLevel level);

// XLANE_TCP_FAULTS, parsed: rates are fractions of segments, 0 to 1.
struct TcpFaults {
    bool enabled = false;
    double drop = 0;
    double duplicate = 0;
    double reorder = 0;
    uint64_t seed = 1;
};

struct Settings {
    std::string config_path;              // XLANE_CONFIG: the rules file
    uint32_t spin_us = 0;                 // XLANE_SPIN_US
    bool spin_kernel = false;             // XLANE_SPIN_KERNEL: kernel-path sockets spin too
    uint32_t poll_os_ratio = 0;           // XLANE_POLL_OS_RATIO: kernel looks per ready poll
    LogLevel log_level = LogLevel::warn;  // XLANE_LOG_LEVEL
    std::string log_file;                 // XLANE_LOG_FILE: empty = standard error; may hold %p
    std::string stats_file;               // XLANE_STATS_FILE: empty = none; may hold %p
    std::string bpffs;                    // XLANE_BPFFS
    bool tcp = false;                     // XLANE_TCP=1: TCP sockets may take the fast path
    bool tcp_auto = false;                // XLANE_TCP=auto: they may with CAP_NET_ADMIN
    bool tcp_fork_share = true;           // XLANE_TCP_FORK=share: fork() hands connections over
    TcpFaults tcp_faults;                 // XLANE_TCP_FAULTS (test hook)
    bool debug = false;                   // XLANE_DEBUG

    // Bit i set: setting_specs()[i] came from the environment (not the default).
    uint32_t from_environment = 0;

    // Every variable at its default (the table's default values, parsed).
    [[nodiscard]] static Settings defaults();

    [[nodiscard]] bool came_from_environment(std::string_view variable) const;
    // XLANE_CONFIG named the rules file, so it must exist; the default may not.
    [[nodiscard]] bool config_path_required() const {
        return came_from_environment("XLANE_CONFIG");
    }
};

// One row of the table: the variable, its default, what it accepts and means,
// and how a value is stored. Constant-initialised: no static constructors run
// in the preload library before libc is ready.
struct SettingSpec {
    std::string_view name;
    std::string_view default_value;  // parsed like a value from the environment
    std::string_view shown_default;  // for documentation when the value alone says too little
    std::string_view accepted;       // the accepted values, as a user reads them
    std::string_view meaning;        // one or two sentences (Markdown)
    // Stores `value` (never empty) into `settings`; the error says what is wrong
    // with the value, without repeating the variable's name.
    Status (*store)(std::string_view value, Settings& settings);

    // shown_default, or else the default value.
    [[nodiscard]] std::string default_text() const;
};

[[nodiscard]] std::span<const SettingSpec> setting_specs();
[[nodiscard]] const SettingSpec* find_setting(std::string_view name);

// Reads one variable: its value, or nullptr when unset. Empty counts as unset.
using EnvLookup = std::function<const char*(const char* name)>;

// Settings plus every problem met on the way: a bad value keeps the default
// and adds an Error naming the variable, the value and what it accepts. The
// preload library logs the problems and carries on; the tool may refuse.
struct LoadedSettings {
    Settings settings;
    std::vector<Error> problems;
};

[[nodiscard]] LoadedSettings load_settings(const EnvLookup& lookup);
// From this process's environment through secure_getenv: a set-user-ID
// program ignores XLANE_*, so no one can make it write to a file of their choosing.
[[nodiscard]] LoadedSettings load_settings_from_environment();

// Stores NAME=VALUE into `settings` (e.g. a profile's value), or says why not.
[[nodiscard]] Status apply_setting(Settings& settings, std::string_view name,
                                   std::string_view value);

// "%p" becomes `pid` and "%%" a single '%' (one file per process after fork).
[[nodiscard]] std::string expand_pid(std::string_view path_template, pid_t pid);

}  // namespace xlane::config
