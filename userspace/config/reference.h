// Documentation generated from the tables the code runs on (settings,
// profiles, built-in rules), so docs/configuration.md and --help cannot drift.
#pragma once

#include <string>

namespace xlane::config {

// Markdown tables, as they appear in docs/configuration.md between
// "<!-- generated: NAME -->" and "<!-- end generated: NAME -->".
[[nodiscard]] std::string settings_markdown();       // NAME = settings
[[nodiscard]] std::string profiles_markdown();       // NAME = profiles
[[nodiscard]] std::string builtin_rules_markdown();  // NAME = builtin-rules

// Plain text for a command's --help: one paragraph per variable.
[[nodiscard]] std::string settings_help_text();

}  // namespace xlane::config
