// libFuzzer target: the configuration a user writes: the rules file
// (RuleSet::parse, every line through Rule::parse and the endpoint patterns)
// and the XLANE_* environment values (each SettingSpec's parser). Both come
// from outside the process (the preload library reads them in every
// program), so neither may crash, and a parsed rule must print to text that
// parses back to the same rule.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/rule.h"
#include "config/rule_set.h"
#include "config/settings.h"
#include "fuzz_input.h"
#include "steering/address.h"

namespace {

namespace config = xlane::config;

// Sockets to ask the parsed rule set about: both roles, protocols and families.
std::vector<config::SocketQuery> queries() {
    std::vector<config::SocketQuery> out;
    const char* endpoints[] = {"198.18.0.2:5001", "[fd00:198:18::2]:53", "127.0.0.1:80",
                               "0.0.0.0:0",       "[::]:65535",          "255.255.255.255:9"};
    for (auto proto : {xlane::L4Proto::udp, xlane::L4Proto::tcp})
        for (auto role : {config::SocketRole::server, config::SocketRole::client})
            for (const char* local : endpoints) {
                config::SocketQuery q;
                q.proto = proto;
                q.role = role;
                q.local = xlane::Endpoint::parse(local).value();
                q.remote = xlane::Endpoint::parse(endpoints[out.size() % 6]).value();
                out.push_back(q);
            }
    return out;
}

void fuzz_rules(std::string_view text) {
    static const std::vector<config::SocketQuery> kQueries = queries();
    auto set = config::RuleSet::parse(text, "fuzz.conf");
    if (!set) {
        XLANE_FUZZ_REQUIRE(!set.error().message.empty());
        return;
    }
    (void)set.value().describe();
    for (const auto& query : kQueries) {
        const config::Decision decision = set.value().decide(query);
        XLANE_FUZZ_REQUIRE(!decision.rule.empty());  // the last built-in rule matches everything
    }
}

void fuzz_rule_round_trip(std::string_view line) {
    auto rule = config::Rule::parse(line);
    if (!rule || !rule.value()) return;
    const std::string text = rule.value()->to_string();
    auto again = config::Rule::parse(text);
    XLANE_FUZZ_REQUIRE(again.ok() && again.value().has_value());
    XLANE_FUZZ_REQUIRE(again.value()->to_string() == text);
}

void fuzz_setting(uint8_t which, std::string_view value) {
    const auto specs = config::setting_specs();
    if (specs.empty() || value.empty()) return;  // store() is never given ""
    const config::SettingSpec& spec = specs[which % specs.size()];
    config::Settings settings = config::Settings::defaults();
    auto status = spec.store(value, settings);
    if (!status) XLANE_FUZZ_REQUIRE(!status.error().message.empty());
}

}  // namespace

// Input: {u8 mode, u8 setting index, text}; mode % 3 picks a rules file,
// one rule's round trip, or one XLANE_* value.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    xlane::fuzz::FuzzInput in(data, size);
    const uint8_t mode = in.u8();
    const uint8_t which = in.u8();
    const std::string_view text = in.rest_as_text();
    switch (mode % 3) {
        case 0:
            fuzz_rules(text);
            break;
        case 1:
            fuzz_rule_round_trip(text);
            break;
        default:
            fuzz_setting(which, text);
            break;
    }
    return 0;
}
