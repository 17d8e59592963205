// Profiles for `xlane run --profile NAME`: named sets of XLANE_* values for a
// goal (latency, throughput), checked against the settings table.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "config/settings.h"

namespace xlane::config {

struct ProfileAssignment {
    std::string_view variable;
    std::string_view value;
};

struct Profile {
    std::string_view name;
    std::string_view purpose;  // one sentence (Markdown)
    std::span<const ProfileAssignment> assignments;
};

[[nodiscard]] std::span<const Profile> profiles();
[[nodiscard]] const Profile* find_profile(std::string_view name);

// What `xlane run --profile` exports: the profile's assignments except those
// whose variable is already set, because a value the user set on purpose
// outranks a profile.
[[nodiscard]] std::vector<ProfileAssignment> profile_exports(const Profile& profile,
                                                             const EnvLookup& lookup);

}  // namespace xlane::config
