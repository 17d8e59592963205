#include "config/profiles.h"

#include <array>
#include <string>

namespace xlane::config {

namespace {

// Spinning longer keeps a thread that waits for the next message on the CPU, so
// it reacts without a wake-up even when messages are a millisecond apart.
constexpr std::array<ProfileAssignment, 1> kLatency{{{"XLANE_SPIN_US", "1000"}}};
// Sleeping at once leaves both cores to the threads that move data; batching,
// not wake-up latency, decides throughput.
constexpr std::array<ProfileAssignment, 1> kThroughput{{{"XLANE_SPIN_US", "0"}}};

constexpr std::array<Profile, 3> kProfiles{{
    {"default", "The defaults of every variable.", {}},
    {"latency",
     "Lowest response time: blocking calls spin up to 1 ms before sleeping, at the cost of "
     "CPU time while idle.",
     kLatency},
    {"throughput",
     "Most data per CPU second: blocking calls sleep at once and leave the CPU to the threads "
     "that move data.",
     kThroughput},
}};

}  // namespace

std::span<const Profile> profiles() {
    return kProfiles;
}

const Profile* find_profile(std::string_view name) {
    for (const auto& profile : kProfiles)
        if (profile.name == name) return &profile;
    return nullptr;
}

std::vector<ProfileAssignment> profile_exports(const Profile& profile, const EnvLookup& lookup) {
    std::vector<ProfileAssignment> exports;
    for (const auto& assignment : profile.assignments) {
        const std::string name(assignment.variable);
        const char* current = lookup(name.c_str());
        if (current == nullptr || current[0] == '\0') exports.push_back(assignment);
    }
    return exports;
}

}  // namespace xlane::config
