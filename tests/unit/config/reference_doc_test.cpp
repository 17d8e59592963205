// docs/configuration.md carries the tables generated from the code (variables,
// profiles, built-in rules): a change to a table without the docs fails here.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>

#include "config/reference.h"
#include "config/rule_set.h"
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

TEST_CASE(
    "the example rules file in docs/configuration.md parses and decides as its comments say") {
    const std::string doc = read_doc();
    const std::string start = "```\n# /etc/xlane.conf\n";
    const auto from = doc.find(start);
    REQUIRE(from != std::string::npos);
    const auto to = doc.find("```", from + 3);
    REQUIRE(to != std::string::npos);
    const std::string example = doc.substr(from + 4, to - from - 4);

    auto parsed = xlane::config::RuleSet::parse(example, "/etc/xlane.conf");
    INFO((parsed ? "" : parsed.error().message));
    REQUIRE(parsed.ok());
    const auto& rules = parsed.value();
    CHECK(rules.file_rule_count() == 6);
    const auto ep = [](const char* text) { return xlane::Endpoint::parse(text).value(); };
    const auto client = [&](xlane::L4Proto proto, const char* remote) {
        return rules.decide(proto, SocketRole::client, ep("198.18.0.1:40000"), ep(remote));
    };
    CHECK(client(xlane::L4Proto::udp, "198.18.0.53:53").rule ==
          "/etc/xlane.conf:2: kernel udp client *:53");
    CHECK(client(xlane::L4Proto::tcp, "198.18.0.9:7000").action == RuleAction::kernel);
    CHECK(client(xlane::L4Proto::tcp, "198.18.0.10:7050").rule ==
          "/etc/xlane.conf:4: offload tcp client 198.18.0.0/15:7000-7100");
    CHECK(
        rules
            .decide(xlane::L4Proto::tcp, SocketRole::server, ep("198.18.0.1:7000"), ep("0.0.0.0:0"))
            .action == RuleAction::offload);
    CHECK(client(xlane::L4Proto::udp, "[fd00:198:18::2]:5000").action == RuleAction::offload);
    CHECK(client(xlane::L4Proto::tcp, "198.18.0.2:22").rule ==
          "/etc/xlane.conf:7: kernel any any *");
}
