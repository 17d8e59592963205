#include "config/rule_set.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include "common/unique_fd.h"

namespace xlane::config {

namespace {

// After the file's rules, in this order. The last one matches every socket, so
// decide() always finds a rule.
constexpr std::array<BuiltinRule, 7> kBuiltinRules{{
    {"kernel any any *:53", "DNS lookups stay with the kernel"},
    {"kernel any any 127.0.0.0/8", "loopback stays with the kernel and the sockmap path"},
    {"kernel any any ::1/128", "loopback stays with the kernel and the sockmap path"},
    {"kernel any any 224.0.0.0/4", "multicast membership (IGMP) is the kernel's"},
    {"kernel any any ff00::/8", "multicast membership (MLD) is the kernel's"},
    {"kernel any any 255.255.255.255/32", "broadcast is the kernel's"},
    {"offload any any *", "everything else is offloaded where an XDP attachment can carry it"},
}};

constexpr size_t kMaxRulesFileBytes = 1 << 20;

std::string line_text(std::string_view line) {
    const auto comment = line.find('#');
    return std::string(line.substr(0, comment));
}

Result<std::string> read_small_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return errno_error("cannot read rules file " + path);
    std::string text;
    char buffer[4096];
    while (true) {
        const ssize_t got = ::read(fd.get(), buffer, sizeof(buffer));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return errno_error("cannot read rules file " + path);
        if (got == 0) return text;
        text.append(buffer, static_cast<size_t>(got));
        if (text.size() > kMaxRulesFileBytes)
            return make_error(EFBIG, "rules file " + path + " is larger than 1 MiB");
    }
}

}  // namespace

RuleSet::RuleSet() {
    append_builtin_rules();
}

void RuleSet::append_builtin_rules() {
    for (const auto& builtin : kBuiltinRules) {
        // The built-in texts are checked by the unit tests; value() cannot fail here.
        const Rule rule = *Rule::parse(builtin.text).value();
        rules_.push_back(
            {rule, "default: " + rule.to_string() + " (" + std::string(builtin.why) + ")"});
    }
}

std::span<const BuiltinRule> RuleSet::builtin_rules() {
    return kBuiltinRules;
}

Result<RuleSet> RuleSet::parse(std::string_view text, std::string_view source) {
    RuleSet set{NoRules{}};
    set.source_ = std::string(source);
    std::string errors;
    size_t line_number = 0;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t end = std::min(text.find('\n', start), text.size());
        ++line_number;
        const std::string line = line_text(text.substr(start, end - start));
        const std::string where = set.source_ + ":" + std::to_string(line_number);
        auto parsed = Rule::parse(line);
        if (!parsed) {
            errors += (errors.empty() ? "" : "\n") + where + ": " + parsed.error().message;
        } else if (parsed.value()) {
            const Rule& rule = *parsed.value();
            set.rules_.push_back({rule, where + ": " + rule.to_string()});
        }
        if (end == text.size()) break;
        start = end + 1;
    }
    if (!errors.empty()) return make_error(0, errors);
    set.file_rule_count_ = set.rules_.size();
    set.append_builtin_rules();
    return set;
}

Result<RuleSet> RuleSet::load_file(const std::string& path, bool required) {
    auto text = read_small_file(path);
    if (!text) {
        if (!required && text.error().errnum == ENOENT) return RuleSet{};
        return text.error();
    }
    return parse(text.value(), path);
}

Result<RuleSet> RuleSet::load(const Settings& settings) {
    const bool required = settings.config_path_required();
    auto loaded = load_file(settings.config_path, required);
    if (!loaded && required) {
        Error error = loaded.error();
        if (error.errnum != 0) error.message += " (named by XLANE_CONFIG)";
        return error;
    }
    return loaded;
}

RuleSet RuleSet::kernel_only(std::string why) {
    RuleSet set{NoRules{}};
    Rule everything;  // any protocol, any role, `*`
    everything.action = RuleAction::kernel;
    set.rules_.push_back({everything, std::move(why)});
    return set;
}

Decision RuleSet::decide(const SocketQuery& socket) const {
    for (const auto& ordered : rules_)
        if (ordered.rule.matches(socket)) return {ordered.rule.action, ordered.origin};
    // Unreachable with the built-in catch-all; kernel is the safe answer regardless.
    return {RuleAction::kernel, "no rule matched"};
}

std::string RuleSet::describe() const {
    std::string text;
    for (const auto& ordered : rules_) text += ordered.origin + "\n";
    return text;
}

}  // namespace xlane::config
