// docs/configuration.md carries the tables generated from the code (variables,
// profiles, built-in rules): a change to a table without the docs fails here.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>

#include "config/reference.h"
#include "config/settings.h"

using namespace xlane::config;

namespace {

std::string read_doc() {
    std::ifstream in(std::string(XLANE_SOURCE_DIR) + "/docs/configuration.md");
    REQUIRE(in.good());
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// The text between "<!-- generated: NAME -->\n" and "<!-- end generated: NAME -->".
std::string generated_block(const std::string& doc, const std::string& name) {
    const std::string begin = "<!-- generated: " + name + " -->\n";
    const std::string end = "<!-- end generated: " + name + " -->";
    const auto from = doc.find(begin);
    REQUIRE(from != std::string::npos);
    const auto to = doc.find(end, from);
    REQUIRE(to != std::string::npos);
    return doc.substr(from + begin.size(), to - from - begin.size());
}

void check_block(const std::string& name, const std::string& expected) {
    const std::string doc = read_doc();
    INFO("docs/configuration.md is out of date; replace the '" << name << "' block with:\n"
                                                               << expected);
    CHECK(generated_block(doc, name) == expected);
}

}  // namespace

TEST_CASE("the variables table in docs/configuration.md is the generated one") {
    check_block("settings", settings_markdown());
}

TEST_CASE("the profiles table in docs/configuration.md is the generated one") {
    check_block("profiles", profiles_markdown());
}

TEST_CASE("the built-in rules table in docs/configuration.md is the generated one") {
    check_block("builtin-rules", builtin_rules_markdown());
}

TEST_CASE("--help text names every variable with its default") {
    const std::string help = settings_help_text();
    for (const auto& spec : setting_specs()) {
        CHECK(help.find("  " + std::string(spec.name) + " (default: " + spec.default_text()) !=
              std::string::npos);
    }
    CHECK(help.find('`') == std::string::npos);
    CHECK(help.find("](#") == std::string::npos);
}
