// One line of the rules file, "ACTION PROTOCOL ROLE ENDPOINT" (e.g.
// `kernel udp client *:53`): its parts, parsing, printing and matching a socket.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "config/endpoint_pattern.h"
#include "steering/address.h"
#include "steering/steering_table.h"

namespace xlane::config {

enum class RuleAction : uint8_t {
    offload,  // serve the socket from user space on AF_XDP when it can be
    kernel,   // leave the socket to the kernel
};

// How a socket is used, which decides the side of it a rule looks at.
enum class SocketRole : uint8_t {
    server,  // bound to a port to accept or receive: a rule matches its LOCAL address
    client,  // connecting or sending to a peer: a rule matches its REMOTE address
};

enum class ProtocolMatch : uint8_t { any, udp, tcp };
enum class RoleMatch : uint8_t { any, server, client };

[[nodiscard]] std::string_view to_string(RuleAction action);
[[nodiscard]] std::string_view to_string(SocketRole role);
[[nodiscard]] std::string_view to_string(ProtocolMatch protocol);
[[nodiscard]] std::string_view to_string(RoleMatch role);

// The socket a decision is asked for. Both ends are given; the role picks the
// one that is the service endpoint (where the server listens).
struct SocketQuery {
    L4Proto proto = L4Proto::udp;
    SocketRole role = SocketRole::client;
    Endpoint local;
    Endpoint remote;

    // local for a server, remote for a client.
    [[nodiscard]] const Endpoint& service_endpoint() const;
};

struct Rule {
    RuleAction action = RuleAction::kernel;
    ProtocolMatch protocol = ProtocolMatch::any;
    RoleMatch role = RoleMatch::any;
    EndpointPattern endpoint;

    // One line without its comment. nullopt for a blank line; an error names
    // the field that is wrong and what was expected there (no file:line: the
    // caller knows where the line came from).
    [[nodiscard]] static Result<std::optional<Rule>> parse(std::string_view line);

    [[nodiscard]] bool matches(const SocketQuery& socket) const;
    // Canonical text that parses back to the same rule: "kernel udp client *:53".
    [[nodiscard]] std::string to_string() const;
};

}  // namespace xlane::config
