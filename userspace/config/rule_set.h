// RuleSet: the rules file's rules in order, then the built-in ones; decide()
// gives a socket its path and names the rule that chose it (first match wins).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "config/rule.h"
#include "config/settings.h"

namespace xlane::config {

// A built-in rule, applied after the file's rules, and why it exists.
struct BuiltinRule {
    std::string_view text;  // rule syntax, e.g. "kernel any any *:53"
    std::string_view why;   // short: it ends every decision this rule makes
};

// The path for one socket, and the rule that chose it in words `xlane sockets`
// can show: "/etc/xlane.conf:12: kernel udp client *:53" or
// "default: kernel any any *:53 (DNS ...)".
struct Decision {
    RuleAction action = RuleAction::kernel;
    std::string rule;
};

class RuleSet {
  public:
    // Only the built-in rules (no rules file).
    RuleSet();

    // Parses rules file text; `source` names it in origins and errors. Every bad
    // line is reported, one per line of the message: "SOURCE:LINE: what was expected".
    [[nodiscard]] static Result<RuleSet> parse(std::string_view text, std::string_view source);
    // Reads and parses `path`. A missing file is an error only when `required`.
    [[nodiscard]] static Result<RuleSet> load_file(const std::string& path, bool required);
    // The rules file the settings name (XLANE_CONFIG, required; or the default, optional).
    [[nodiscard]] static Result<RuleSet> load(const Settings& settings);
    // Everything to the kernel, e.g. when the rules file is unusable: the
    // user's "kernel" rules must never be ignored by offloading everything.
    [[nodiscard]] static RuleSet kernel_only(std::string why);

    [[nodiscard]] static std::span<const BuiltinRule> builtin_rules();

    [[nodiscard]] Decision decide(const SocketQuery& socket) const;
    [[nodiscard]] Decision decide(L4Proto proto, SocketRole role, const Endpoint& local,
                                  const Endpoint& remote) const {
        return decide(SocketQuery{proto, role, local, remote});
    }

    // The rules file read ("" when none), and how many rules came from it.
    [[nodiscard]] const std::string& source() const { return source_; }
    [[nodiscard]] size_t file_rule_count() const { return file_rule_count_; }

    // Every rule in the order decide() tries them, one per line with its origin.
    [[nodiscard]] std::string describe() const;

  private:
    struct OrderedRule {
        Rule rule;
        std::string origin;  // "FILE:LINE: RULE" or "default: RULE (WHY)"
    };

    struct NoRules {};
    explicit RuleSet(NoRules) {}
    void append_builtin_rules();

    std::vector<OrderedRule> rules_;
    std::string source_;
    size_t file_rule_count_ = 0;
};

}  // namespace xlane::config
