// The preload library's log writer: levels, the %p file template, one whole
// line per message, and a fresh file for a forked child.
#include "log.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

using xlane::preload::configure_log;
using xlane::preload::log_after_fork_child;
using xlane::preload::log_enabled;
using xlane::preload::log_line;
using xlane::preload::LogLevel;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

// One test case: the log is process-wide state, configured once.
TEST_CASE("lines go to the %p file at the configured level, and a forked child gets its own") {
    char dir_template[] = "/tmp/xl-log-test-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    const std::string dir = dir_template;
    configure_log(LogLevel::info, dir + "/log.%p.%%");
    CHECK(log_enabled(LogLevel::warn));
    CHECK(log_enabled(LogLevel::info));
    CHECK_FALSE(log_enabled(LogLevel::debug));

    log_line(LogLevel::info, "fd 3 (udp4 bind 198.18.0.2:9): fast path");
    log_line(LogLevel::debug, "not written");
    log_line(LogLevel::warn, std::string(5000, 'x'));  // cut, still one line
    const std::string mine = dir + "/log." + std::to_string(::getpid()) + ".%";
    const std::string text = slurp(mine);
    const std::string prefix = "xlane[" + std::to_string(::getpid()) + "]: ";
    CHECK(text.rfind(prefix + "info: fd 3 (udp4 bind 198.18.0.2:9): fast path\n", 0) == 0);
    CHECK(text.find("not written") == std::string::npos);
    const auto second = text.find('\n') + 1;
    CHECK(text.compare(second, prefix.size() + 6, prefix + "warn: ") == 0);
    CHECK(text.back() == '\n');
    CHECK(std::count(text.begin(), text.end(), '\n') == 2);
    CHECK(text.size() < 2000);

    const pid_t child = ::fork();
    if (child == 0) {
        log_after_fork_child();
        log_line(LogLevel::error, "from the child");
        _exit(0);
    }
    REQUIRE(child > 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    const std::string theirs = dir + "/log." + std::to_string(child) + ".%";
    CHECK(slurp(theirs) == "xlane[" + std::to_string(child) + "]: error: from the child\n");
    CHECK(slurp(mine).find("from the child") == std::string::npos);
    std::remove(mine.c_str());
    std::remove(theirs.c_str());
    ::rmdir(dir.c_str());
}
