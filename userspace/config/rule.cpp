#include "config/rule.h"

#include <array>
#include <vector>

namespace xlane::config {

std::string_view to_string(RuleAction action) {
    return action == RuleAction::offload ? "offload" : "kernel";
}

std::string_view to_string(SocketRole role) {
    return role == SocketRole::server ? "server" : "client";
}

std::string_view to_string(ProtocolMatch protocol) {
    switch (protocol) {
        case ProtocolMatch::udp:
            return "udp";
        case ProtocolMatch::tcp:
            return "tcp";
        case ProtocolMatch::any:
            break;
    }
    return "any";
}

std::string_view to_string(RoleMatch role) {
    switch (role) {
        case RoleMatch::server:
            return "server";
        case RoleMatch::client:
            return "client";
        case RoleMatch::any:
            break;
    }
    return "any";
}

const Endpoint& SocketQuery::service_endpoint() const {
    return role == SocketRole::server ? local : remote;
}

namespace {

constexpr std::string_view kSpaces = " \t\r\f\v";
constexpr std::string_view kShape = " (a rule is: ACTION PROTOCOL ROLE ADDRESS[:PORTS])";

std::vector<std::string_view> split_fields(std::string_view line) {
    std::vector<std::string_view> fields;
    size_t pos = 0;
    while ((pos = line.find_first_not_of(kSpaces, pos)) != std::string_view::npos) {
        const size_t end = line.find_first_of(kSpaces, pos);
        fields.push_back(line.substr(pos, end == std::string_view::npos ? end : end - pos));
        pos = end;
    }
    return fields;
}

// The keyword among `names` equal to `word`, as its index.
template <size_t N>
std::optional<size_t> keyword_index(std::string_view word,
                                    const std::array<std::string_view, N>& names) {
    for (size_t i = 0; i < N; ++i)
        if (names[i] == word) return i;
    return std::nullopt;
}

Error expected(std::string_view what, std::string_view got) {
    return make_error(0, "expected " + std::string(what) + ", got '" + std::string(got) + "'");
}

}  // namespace

Result<std::optional<Rule>> Rule::parse(std::string_view line) {
    const auto fields = split_fields(line);
    if (fields.empty()) return std::optional<Rule>{};
    if (fields.size() < 4) {
        std::string given;
        for (const auto field : fields) given += (given.empty() ? "" : " ") + std::string(field);
        return make_error(0, "incomplete rule '" + given + "'" + std::string(kShape));
    }
    if (fields.size() > 4)
        return make_error(0, "unexpected '" + std::string(fields[4]) + "' after the address" +
                                 std::string(kShape));
    Rule rule;
    constexpr std::array<std::string_view, 2> kActions{"offload", "kernel"};
    const auto action = keyword_index(fields[0], kActions);
    if (!action) return expected("an action ('offload' or 'kernel')", fields[0]);
    rule.action = *action == 0 ? RuleAction::offload : RuleAction::kernel;

    constexpr std::array<std::string_view, 3> kProtocols{"any", "udp", "tcp"};
    const auto protocol = keyword_index(fields[1], kProtocols);
    if (!protocol) return expected("a protocol ('udp', 'tcp' or 'any')", fields[1]);
    rule.protocol = static_cast<ProtocolMatch>(*protocol);

    constexpr std::array<std::string_view, 3> kRoles{"any", "server", "client"};
    const auto role = keyword_index(fields[2], kRoles);
    if (!role) return expected("a role ('server', 'client' or 'any')", fields[2]);
    rule.role = static_cast<RoleMatch>(*role);

    auto endpoint = EndpointPattern::parse(fields[3]);
    if (!endpoint)
        return make_error(
            0, "bad address '" + std::string(fields[3]) + "': " + endpoint.error().message);
    rule.endpoint = endpoint.value();
    return std::optional<Rule>{rule};
}

bool Rule::matches(const SocketQuery& socket) const {
    if (protocol == ProtocolMatch::udp && socket.proto != L4Proto::udp) return false;
    if (protocol == ProtocolMatch::tcp && socket.proto != L4Proto::tcp) return false;
    if (role == RoleMatch::server && socket.role != SocketRole::server) return false;
    if (role == RoleMatch::client && socket.role != SocketRole::client) return false;
    return endpoint.matches(socket.service_endpoint());
}

std::string Rule::to_string() const {
    return std::string(config::to_string(action)) + " " + std::string(config::to_string(protocol)) +
           " " + std::string(config::to_string(role)) + " " + endpoint.to_string();
}

}  // namespace xlane::config
