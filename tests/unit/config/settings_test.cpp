// XLANE_* variables: defaults from the one table, every variable's good and bad
// values (a bad value keeps the default and names the variable and what it
// accepts), empty = unset, profiles, and %p in file names.
#include "config/settings.h"

#include <catch2/catch.hpp>
#include <map>
#include <string>

#include "config/profiles.h"

using namespace xlane;
using namespace xlane::config;

namespace {

using Environment = std::map<std::string, std::string>;

EnvLookup lookup_in(const Environment& env) {
    return [&env](const char* name) -> const char* {
        const auto found = env.find(name);
        return found == env.end() ? nullptr : found->second.c_str();
    };
}

LoadedSettings load(const Environment& env) {
    return load_settings(lookup_in(env));
}

// Loads NAME=VALUE alone and expects it to be accepted.
Settings accepted(const std::string& name, const std::string& value) {
    const Environment env{{name, value}};
    auto loaded = load(env);
    INFO(name << "=" << value);
    for (const auto& problem : loaded.problems) INFO(problem.message);
    REQUIRE(loaded.problems.empty());
    CHECK(loaded.settings.came_from_environment(name));
    return loaded.settings;
}

// Loads NAME=VALUE alone, expects it to be refused, and returns the message.
std::string refused(const std::string& name, const std::string& value) {
    const Environment env{{name, value}};
    auto loaded = load(env);
    INFO(name << "=" << value);
    REQUIRE(loaded.problems.size() == 1);
    CHECK_FALSE(loaded.settings.came_from_environment(name));
    const std::string& message = loaded.problems[0].message;
    CHECK(message.starts_with(name + "='" + value + "': "));
    CHECK(message.find("(accepted: " + std::string(find_setting(name)->accepted) + ")") !=
          std::string::npos);
    CHECK(message.ends_with("; using the default, " + find_setting(name)->default_text()));
    CHECK(loaded.problems[0].describe() == message);  // no strerror tacked on
    return message;
}

}  // namespace

TEST_CASE("defaults") {
    const Settings s = Settings::defaults();
    CHECK(s.config_path == "/etc/xlane.conf");
    CHECK(s.spin_us == 100);
    CHECK(s.log_level == LogLevel::warn);
    CHECK(s.log_file.empty());
    CHECK(s.stats_file.empty());
    CHECK(s.bpffs == "/sys/fs/bpf");
    CHECK_FALSE(s.debug);
    CHECK_FALSE(s.tcp);
    CHECK_FALSE(s.tcp_faults.enabled);
    CHECK(s.from_environment == 0);
    CHECK_FALSE(s.config_path_required());
}

TEST_CASE("an empty environment gives the defaults and no problems") {
    auto loaded = load({});
    CHECK(loaded.problems.empty());
    CHECK(loaded.settings.spin_us == Settings::defaults().spin_us);
    CHECK(loaded.settings.from_environment == 0);
}

TEST_CASE("the table: unique XLANE_ names, documented, every default accepted") {
    std::map<std::string, int> seen;
    for (const auto& spec : setting_specs()) {
        INFO(spec.name);
        CHECK(spec.name.starts_with("XLANE_"));
        CHECK(++seen[std::string(spec.name)] == 1);
        CHECK_FALSE(spec.accepted.empty());
        CHECK_FALSE(spec.meaning.empty());
        CHECK_FALSE(spec.default_text().empty());
        CHECK(find_setting(spec.name) == &spec);
        if (!spec.default_value.empty()) {
            Settings s;
            CHECK(spec.store(spec.default_value, s).ok());
        }
    }
    CHECK(find_setting("XLANE_NOPE") == nullptr);
}

TEST_CASE("XLANE_CONFIG names the rules file and makes it required") {
    const Settings s = accepted("XLANE_CONFIG", "/etc/xlane/lab.conf");
    CHECK(s.config_path == "/etc/xlane/lab.conf");
    CHECK(s.config_path_required());
}

TEST_CASE("XLANE_SPIN_US: microseconds from 0 to 1000000") {
    CHECK(accepted("XLANE_SPIN_US", "0").spin_us == 0);
    CHECK(accepted("XLANE_SPIN_US", "250").spin_us == 250);
    CHECK(accepted("XLANE_SPIN_US", "1000000").spin_us == 1000000);
    CHECK(refused("XLANE_SPIN_US", "1000001").find("above the maximum, 1000000") !=
          std::string::npos);
    CHECK(refused("XLANE_SPIN_US", "99999999999999999999999").find("above the maximum") !=
          std::string::npos);
    CHECK(refused("XLANE_SPIN_US", "fast").find("not a whole number") != std::string::npos);
    CHECK(refused("XLANE_SPIN_US", "-1").find("not a whole number") != std::string::npos);
    CHECK(refused("XLANE_SPIN_US", "10us").find("not a whole number") != std::string::npos);
    CHECK(refused("XLANE_SPIN_US", " 10").find("not a whole number") != std::string::npos);
    CHECK(refused("XLANE_SPIN_US", "1.5").find("not a whole number") != std::string::npos);
}

TEST_CASE("XLANE_POLL_OS_RATIO: a whole number from 0 to 1000, 10 by default") {
    CHECK(Settings::defaults().poll_os_ratio == 10);
    CHECK(accepted("XLANE_POLL_OS_RATIO", "0").poll_os_ratio == 0);
    CHECK(accepted("XLANE_POLL_OS_RATIO", "1000").poll_os_ratio == 1000);
    CHECK(refused("XLANE_POLL_OS_RATIO", "1001").find("above the maximum, 1000") !=
          std::string::npos);
    CHECK(refused("XLANE_POLL_OS_RATIO", "-1").find("not a whole number") != std::string::npos);
    CHECK(refused("XLANE_POLL_OS_RATIO", "often").find("not a whole number") != std::string::npos);
}

TEST_CASE("a refused value keeps the default and is reported in full") {
    CHECK(refused("XLANE_SPIN_US", "fast") ==
          "XLANE_SPIN_US='fast': not a whole number of microseconds (accepted: 0 to 1000000 "
          "microseconds); using the default, 100");
    CHECK(load({{"XLANE_SPIN_US", "fast"}}).settings.spin_us == 100);
}

TEST_CASE("XLANE_LOG_LEVEL: error, warn, info, debug, trace in any case") {
    CHECK(accepted("XLANE_LOG_LEVEL", "error").log_level == LogLevel::error);
    CHECK(accepted("XLANE_LOG_LEVEL", "warn").log_level == LogLevel::warn);
    CHECK(accepted("XLANE_LOG_LEVEL", "info").log_level == LogLevel::info);
    CHECK(accepted("XLANE_LOG_LEVEL", "debug").log_level == LogLevel::debug);
    CHECK(accepted("XLANE_LOG_LEVEL", "trace").log_level == LogLevel::trace);
    CHECK(accepted("XLANE_LOG_LEVEL", "DEBUG").log_level == LogLevel::debug);
    CHECK(accepted("XLANE_LOG_LEVEL", "Info").log_level == LogLevel::info);
    refused("XLANE_LOG_LEVEL", "warning");
    refused("XLANE_LOG_LEVEL", "3");
    CHECK(load({{"XLANE_LOG_LEVEL", "loud"}}).settings.log_level == LogLevel::warn);
    for (auto level :
         {LogLevel::error, LogLevel::warn, LogLevel::info, LogLevel::debug, LogLevel::trace})
        CHECK(accepted("XLANE_LOG_LEVEL", std::string(to_string(level))).log_level == level);
}

TEST_CASE("XLANE_LOG_FILE and XLANE_STATS_FILE: any path, %p kept for expand_pid") {
    CHECK(accepted("XLANE_LOG_FILE", "/var/log/xlane-%p.log").log_file == "/var/log/xlane-%p.log");
    CHECK(accepted("XLANE_LOG_FILE", "xlane.log").log_file == "xlane.log");
    CHECK(accepted("XLANE_STATS_FILE", "/tmp/stats-%p.json").stats_file == "/tmp/stats-%p.json");
}

TEST_CASE("XLANE_BPFFS: an absolute path") {
    CHECK(accepted("XLANE_BPFFS", "/run/xlane-bpffs").bpffs == "/run/xlane-bpffs");
    CHECK(refused("XLANE_BPFFS", "sys/fs/bpf").find("not an absolute path") != std::string::npos);
    CHECK(load({{"XLANE_BPFFS", "relative"}}).settings.bpffs == "/sys/fs/bpf");
}

TEST_CASE("XLANE_DEBUG: yes/no words in any case") {
    for (const char* yes : {"1", "yes", "true", "on", "YES", "True"})
        CHECK(accepted("XLANE_DEBUG", yes).debug);
    for (const char* no : {"0", "no", "false", "off", "OFF"})
        CHECK_FALSE(accepted("XLANE_DEBUG", no).debug);
    CHECK(refused("XLANE_DEBUG", "2").find("not a yes/no value") != std::string::npos);
    refused("XLANE_DEBUG", "y");
}

TEST_CASE("XLANE_SPIN_KERNEL: 1 makes kernel-path sockets spin too, 0 (the default) not") {
    CHECK_FALSE(Settings::defaults().spin_kernel);
    CHECK(accepted("XLANE_SPIN_KERNEL", "1").spin_kernel);
    CHECK_FALSE(accepted("XLANE_SPIN_KERNEL", "0").spin_kernel);
    CHECK(refused("XLANE_SPIN_KERNEL", "on").find("not 1 or 0") != std::string::npos);
    CHECK_FALSE(load({{"XLANE_SPIN_KERNEL", "2"}}).settings.spin_kernel);
}

TEST_CASE("XLANE_TCP: auto by default (on with CAP_NET_ADMIN), 1 on, 0 off") {
    CHECK(Settings::defaults().tcp_auto);
    CHECK_FALSE(Settings::defaults().tcp);
    CHECK(accepted("XLANE_TCP", "1").tcp);
    CHECK_FALSE(accepted("XLANE_TCP", "1").tcp_auto);
    CHECK_FALSE(accepted("XLANE_TCP", "0").tcp);
    CHECK_FALSE(accepted("XLANE_TCP", "0").tcp_auto);
    CHECK(accepted("XLANE_TCP", "auto").tcp_auto);
    CHECK(refused("XLANE_TCP", "yes").find("not auto, 1 or 0") != std::string::npos);
    CHECK(load({{"XLANE_TCP", "2"}}).settings.tcp_auto);  // refused: the default stays
}

TEST_CASE("XLANE_TCP_FAULTS: drop, dup, reorder fractions and a seed, each at most once") {
    const TcpFaults all = accepted("XLANE_TCP_FAULTS", "drop=0.02,dup=0.01,reorder=.5,seed=7")
                              .tcp_faults;
    CHECK(all.enabled);
    CHECK(all.drop == 0.02);
    CHECK(all.duplicate == 0.01);
    CHECK(all.reorder == 0.5);
    CHECK(all.seed == 7);
    const TcpFaults one = accepted("XLANE_TCP_FAULTS", "drop=1").tcp_faults;
    CHECK(one.enabled);
    CHECK(one.drop == 1);
    CHECK(one.duplicate == 0);
    CHECK(one.seed == 1);
    CHECK(refused("XLANE_TCP_FAULTS", "drop=1.5").find("not a fraction") != std::string::npos);
    CHECK(refused("XLANE_TCP_FAULTS", "drop=-0.1").find("not a fraction") != std::string::npos);
    CHECK(refused("XLANE_TCP_FAULTS", "drop=2%").find("not a fraction") != std::string::npos);
    CHECK(refused("XLANE_TCP_FAULTS", "loss=0.1").find("unknown key 'loss'") != std::string::npos);
    CHECK(refused("XLANE_TCP_FAULTS", "drop").find("not KEY=VALUE") != std::string::npos);
    CHECK(refused("XLANE_TCP_FAULTS", "drop=0.1,drop=0.2").find("given twice") !=
          std::string::npos);
    CHECK(refused("XLANE_TCP_FAULTS", "seed=x").find("not a whole number") != std::string::npos);
    CHECK_FALSE(load({{"XLANE_TCP_FAULTS", "drop=3"}}).settings.tcp_faults.enabled);
}

TEST_CASE("an empty value counts as unset") {
    const Environment env{{"XLANE_SPIN_US", ""}, {"XLANE_CONFIG", ""}, {"XLANE_BPFFS", ""}};
    auto loaded = load(env);
    CHECK(loaded.problems.empty());
    CHECK(loaded.settings.spin_us == 100);
    CHECK(loaded.settings.config_path == "/etc/xlane.conf");
    CHECK_FALSE(loaded.settings.config_path_required());
    CHECK(loaded.settings.from_environment == 0);
}

TEST_CASE("several variables at once: good ones apply, each bad one is reported") {
    const Environment env{{"XLANE_SPIN_US", "5"},        {"XLANE_LOG_LEVEL", "chatty"},
                          {"XLANE_DEBUG", "maybe"},      {"XLANE_LOG_FILE", "/tmp/x.log"},
                          {"XLANE_UNKNOWN", "whatever"}, {"PATH", "/bin"}};
    auto loaded = load(env);
    REQUIRE(loaded.problems.size() == 2);
    CHECK(loaded.problems[0].message.starts_with("XLANE_LOG_LEVEL='chatty'"));
    CHECK(loaded.problems[1].message.starts_with("XLANE_DEBUG='maybe'"));
    CHECK(loaded.settings.spin_us == 5);
    CHECK(loaded.settings.log_file == "/tmp/x.log");
    CHECK(loaded.settings.log_level == LogLevel::warn);
    CHECK(loaded.settings.came_from_environment("XLANE_SPIN_US"));
    CHECK(loaded.settings.came_from_environment("XLANE_LOG_FILE"));
    CHECK_FALSE(loaded.settings.came_from_environment("XLANE_LOG_LEVEL"));
    CHECK_FALSE(loaded.settings.came_from_environment("XLANE_UNKNOWN"));
}

TEST_CASE("the process environment is read through the same table") {
    ::setenv("XLANE_SPIN_US", "42", 1);
    auto loaded = load_settings_from_environment();
    ::unsetenv("XLANE_SPIN_US");
    CHECK(loaded.settings.spin_us == 42);
    CHECK(loaded.settings.came_from_environment("XLANE_SPIN_US"));
}

TEST_CASE("apply_setting validates one assignment") {
    Settings s = Settings::defaults();
    CHECK(apply_setting(s, "XLANE_SPIN_US", "7").ok());
    CHECK(s.spin_us == 7);
    auto bad = apply_setting(s, "XLANE_SPIN_US", "x");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message.starts_with("XLANE_SPIN_US='x': not a whole number"));
    CHECK(s.spin_us == 7);
    CHECK(apply_setting(s, "XLANE_NOPE", "1").error().message == "unknown variable XLANE_NOPE");
    CHECK_FALSE(apply_setting(s, "XLANE_SPIN_US", "").ok());
}

TEST_CASE("expand_pid replaces %p and %% only") {
    CHECK(expand_pid("/tmp/xlane-%p.log", 1234) == "/tmp/xlane-1234.log");
    CHECK(expand_pid("%p/%p", 7) == "7/7");
    CHECK(expand_pid("100%%-%p", 9) == "100%-9");
    CHECK(expand_pid("/tmp/%d%", 9) == "/tmp/%d%");
    CHECK(expand_pid("plain", 9) == "plain");
}

TEST_CASE("profiles: default, latency, throughput; every value valid for its variable") {
    REQUIRE(find_profile("default") != nullptr);
    REQUIRE(find_profile("latency") != nullptr);
    REQUIRE(find_profile("throughput") != nullptr);
    CHECK(find_profile("fastest") == nullptr);
    CHECK(find_profile("default")->assignments.empty());
    for (const auto& profile : profiles()) {
        INFO(profile.name);
        CHECK_FALSE(profile.purpose.empty());
        Settings s = Settings::defaults();
        for (const auto& assignment : profile.assignments) {
            auto applied = apply_setting(s, assignment.variable, assignment.value);
            INFO(assignment.variable << "=" << assignment.value);
            CHECK(applied.ok());
        }
    }
    Settings latency = Settings::defaults();
    for (const auto& a : find_profile("latency")->assignments)
        REQUIRE(apply_setting(latency, a.variable, a.value).ok());
    CHECK(latency.spin_us > Settings::defaults().spin_us);
}

TEST_CASE("a profile never overrides a variable the user set") {
    const Profile& latency = *find_profile("latency");
    const auto all = profile_exports(latency, lookup_in({}));
    REQUIRE(all.size() == latency.assignments.size());
    CHECK(all[0].variable == "XLANE_SPIN_US");

    const Environment user{{"XLANE_SPIN_US", "3"}};
    CHECK(profile_exports(latency, lookup_in(user)).empty());
    const Environment empty_value{{"XLANE_SPIN_US", ""}};
    CHECK(profile_exports(latency, lookup_in(empty_value)).size() == 1);
}
