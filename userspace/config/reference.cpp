#include "config/reference.h"

#include <algorithm>

#include "config/profiles.h"
#include "config/rule_set.h"
#include "config/settings.h"

namespace xlane::config {

namespace {

// A '|' inside a cell would end it.
std::string cell(std::string_view text) {
    std::string escaped;
    for (const char c : text) {
        if (c == '|') escaped += '\\';
        escaped += c;
    }
    return escaped;
}

std::string code(std::string_view text) {
    return "`" + std::string(text) + "`";
}

// Drops Markdown's backticks and link targets for plain text: "[Rules](#rules)" -> "Rules".
std::string plain(std::string_view markdown) {
    std::string text;
    for (size_t i = 0; i < markdown.size(); ++i) {
        const char c = markdown[i];
        if (c == '`' || c == '[') continue;
        if (c == ']' && i + 1 < markdown.size() && markdown[i + 1] == '(') {
            i = markdown.find(')', i);
            if (i == std::string_view::npos) break;
            continue;
        }
        text += c;
    }
    return text;
}

// Words of `text` on lines of at most `width` columns, each starting with `indent`.
std::string wrapped(std::string_view text, std::string_view indent, size_t width) {
    std::string out;
    std::string line(indent);
    size_t pos = 0;
    while (pos < text.size()) {
        const size_t space = std::min(text.find(' ', pos), text.size());
        const std::string_view word = text.substr(pos, space - pos);
        if (line.size() > indent.size() && line.size() + 1 + word.size() > width) {
            out += line + "\n";
            line = indent;
        }
        if (line.size() > indent.size()) line += ' ';
        line += word;
        pos = space + 1;
    }
    return out + line + "\n";
}

}  // namespace

std::string settings_markdown() {
    std::string md = "| variable | default | accepted values | meaning |\n|---|---|---|---|\n";
    for (const auto& spec : setting_specs()) {
        const std::string shown =
            spec.shown_default.empty() ? code(spec.default_value) : std::string(spec.shown_default);
        md += "| " + code(spec.name) + " | " + cell(shown) + " | " + cell(spec.accepted) + " | " +
              cell(spec.meaning) + " |\n";
    }
    return md;
}

std::string profiles_markdown() {
    std::string md = "| profile | variables | purpose |\n|---|---|---|\n";
    for (const auto& profile : profiles()) {
        std::string variables;
        for (const auto& assignment : profile.assignments)
            variables += (variables.empty() ? "" : " ") + code(std::string(assignment.variable) +
                                                               "=" + std::string(assignment.value));
        if (variables.empty()) variables = "(none)";
        md += "| " + code(profile.name) + " | " + cell(variables) + " | " + cell(profile.purpose) +
              " |\n";
    }
    return md;
}

std::string builtin_rules_markdown() {
    std::string md = "| rule | why |\n|---|---|\n";
    for (const auto& builtin : RuleSet::builtin_rules())
        md += "| " + code(builtin.text) + " | " + cell(builtin.why) + " |\n";
    return md;
}

std::string settings_help_text() {
    std::string text = "Environment:\n";
    for (const auto& spec : setting_specs()) {
        text += "  " + std::string(spec.name) + " (default: " + spec.default_text() + "; " +
                plain(spec.accepted) + ")\n";
        text += wrapped(plain(spec.meaning), "      ", 80);
    }
    return text;
}

}  // namespace xlane::config
