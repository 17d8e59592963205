// `xlane run [--profile NAME] -- PROGRAM ARGS...`: runs a program with
// libxlane.so preloaded and a profile's XLANE_* variables set, the way
// `onload` does; the program replaces the tool, so its exit code is ours.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "config/profiles.h"

namespace xlane::cli {

namespace {

struct RunOptions {
    std::string profile = "default";
    std::vector<std::string> command;
};

bool readable_file(const std::string& path) {
    return ::access(path.c_str(), R_OK) == 0;
}

// XLANE_PRELOAD_LIB, else next to the tool: ../preload/libxlane.so in a build
// tree (build/tools/xlane), ../lib/libxlane.so in an install tree (bin/xlane).
std::string locate_library() {
    if (const char* named = std::getenv("XLANE_PRELOAD_LIB"); named != nullptr && named[0] != '\0') {
        if (!readable_file(named))
            fail(make_error(ENOENT, std::string("XLANE_PRELOAD_LIB names ") + named +
                                        ", which is not a readable file"));
        return named;
    }
    char self[4096];
    const ssize_t length = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (length <= 0) fail(errno_error("cannot find the xlane binary (/proc/self/exe) to locate libxlane.so"));
    std::string dir(self, static_cast<size_t>(length));
    dir.erase(dir.find_last_of('/'));
    const std::string candidates[] = {dir + "/../preload/libxlane.so", dir + "/../lib/libxlane.so"};
    for (const auto& candidate : candidates) {
        if (!readable_file(candidate)) continue;
        char resolved[4096];
        return ::realpath(candidate.c_str(), resolved) != nullptr ? std::string(resolved) : candidate;
    }
    fail(make_error(ENOENT, "cannot find libxlane.so (looked for " + candidates[0] + " and " + candidates[1] +
                                "); build it, or set XLANE_PRELOAD_LIB=/path/to/libxlane.so"));
}

// LD_PRELOAD with the library first (the dynamic linker accepts spaces or
// colons between entries); already there: unchanged.
std::string with_library(const char* current, const std::string& library) {
    if (current == nullptr || current[0] == '\0') return library;
    const std::string list = current;
    size_t start = 0;
    while (start <= list.size()) {
        const size_t end = list.find_first_of(": ", start);
        const std::string entry = list.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (entry == library) return list;
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return library + ":" + list;
}

[[noreturn]] void run_program(const RunOptions& options) {
    const config::Profile* profile = config::find_profile(options.profile);
    if (profile == nullptr) fail(make_error(EINVAL, "unknown profile '" + options.profile + "'"));
    const std::string library = locate_library();
    const std::string preload = with_library(std::getenv("LD_PRELOAD"), library);
    if (::setenv("LD_PRELOAD", preload.c_str(), 1) != 0) fail(errno_error("cannot set LD_PRELOAD"));
    // A variable the user set on purpose outranks the profile.
    const auto exports = config::profile_exports(*profile, [](const char* name) { return std::getenv(name); });
    for (const auto& assignment : exports) {
        const std::string name(assignment.variable);
        const std::string value(assignment.value);
        if (::setenv(name.c_str(), value.c_str(), 1) != 0) fail(errno_error("cannot set " + name));
    }

    std::vector<char*> argv;
    for (const auto& arg : options.command) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    std::fflush(nullptr);
    ::execvp(argv[0], argv.data());
    // As a shell says it: 127 when there is no such program, 126 when it cannot run.
    const int err = errno;
    std::fprintf(stderr, "xlane: cannot run %s: %s\n", argv[0], std::strerror(err));
    throw CLI::RuntimeError(err == ENOENT ? 127 : 126);
}

}  // namespace

void add_run_command(CLI::App& app) {
    auto options = std::make_shared<RunOptions>();
    CLI::App* run = app.add_subcommand(
        "run",
        "Run PROGRAM with libxlane.so preloaded (XLANE_PRELOAD_LIB, else found next to this "
        "tool) and a profile's XLANE_* variables set; variables already set are kept");
    std::vector<std::string> names;
    for (const auto& p : config::profiles()) names.emplace_back(p.name);
    run->add_option("--profile", options->profile,
                    "Tuning profile (default: default); docs/configuration.md lists their variables")
        ->check(CLI::IsMember(names));
    // After "--" everything is the program's, options included; CLI11 keeps
    // their order. (Without "--", an option meant for the program is refused
    // as an unknown option of `xlane run`.)
    run->add_option("program", options->command, "PROGRAM ARGS...: the program to run and its arguments")
        ->required();
    run->footer("Usage: xlane run [--profile NAME] -- PROGRAM [ARGS...]\n");
    run->callback([options] {
        run_program(*options);
    });
}

}  // namespace xlane::cli
