// `xlane doctor`: checks what xlane needs from the host and prints, for each
// missing thing, how to fix it. Exits non-zero when something required is missing.
#include <cstdio>

#include "commands.h"
#include "system/host_checks.h"

namespace xlane::cli {

namespace {

const char* label(HostCheck::Outcome outcome) {
    switch (outcome) {
        case HostCheck::Outcome::ok:
            return " ok ";
        case HostCheck::Outcome::missing:
            return "FAIL";
        case HostCheck::Outcome::warning:
            return "warn";
        case HostCheck::Outcome::info:
            return "info";
    }
    return "????";
}

void run_doctor() {
    int missing = 0;
    for (const auto& check : run_host_checks()) {
        std::printf("[%s] %-30s %s\n", label(check.outcome), check.name.c_str(),
                    check.detail.c_str());
        if (!check.fix.empty()) std::printf("       fix: %s\n", check.fix.c_str());
        if (check.outcome == HostCheck::Outcome::missing) ++missing;
    }
    if (missing != 0)
        fail(make_error(0, std::to_string(missing) + " required feature(s) missing (see above)"));
    std::printf("everything xlane needs is here\n");
}

}  // namespace

void add_doctor_command(CLI::App& app) {
    CLI::App* doctor = app.add_subcommand(
        "doctor",
        "Check kernel features (XDP, AF_XDP, sockmap, sock_ops), bpffs, cgroup v2, "
        "capabilities and memlock, and say how to fix what is missing");
    doctor->callback([] { run_doctor(); });
}

}  // namespace xlane::cli
