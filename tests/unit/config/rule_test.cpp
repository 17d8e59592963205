// One rule line: every keyword, the field-by-field errors, canonical printing,
// and which end of a socket (local for servers, remote for clients) it matches.
#include "config/rule.h"

#include <catch2/catch.hpp>
#include <string>

using namespace xlane;
using namespace xlane::config;

namespace {

Rule rule(const char* text) {
    auto parsed = Rule::parse(text);
    INFO(text << ": " << (parsed ? "" : parsed.error().message));
    REQUIRE(parsed.ok());
    REQUIRE(parsed.value().has_value());
    return *parsed.value();
}

std::string rule_error(const char* text) {
    auto parsed = Rule::parse(text);
    INFO(text);
    REQUIRE_FALSE(parsed.ok());
    return parsed.error().message;
}

Endpoint endpoint(const char* text) {
    return Endpoint::parse(text).value();
}

SocketQuery server(L4Proto proto, const char* local) {
    return {proto, SocketRole::server, endpoint(local), endpoint("0.0.0.0:0")};
}

SocketQuery client(L4Proto proto, const char* local, const char* remote) {
    return {proto, SocketRole::client, endpoint(local), endpoint(remote)};
}

}  // namespace

TEST_CASE("a rule has an action, a protocol, a role and an address") {
    const Rule r = rule("offload tcp server 198.18.0.0/15:7000-7100");
    CHECK(r.action == RuleAction::offload);
    CHECK(r.protocol == ProtocolMatch::tcp);
    CHECK(r.role == RoleMatch::server);
    CHECK(r.endpoint.to_string() == "198.18.0.0/15:7000-7100");
}

TEST_CASE("every keyword parses and prints back the same") {
    for (const char* action : {"offload", "kernel"})
        for (const char* protocol : {"udp", "tcp", "any"})
            for (const char* role : {"server", "client", "any"}) {
                const std::string text =
                    std::string(action) + " " + protocol + " " + role + " *:53";
                CHECK(rule(text.c_str()).to_string() == text);
            }
}

TEST_CASE("blank lines are no rule; spaces and tabs separate fields") {
    for (const char* blank : {"", "   ", "\t", " \t \r"}) {
        auto parsed = Rule::parse(blank);
        REQUIRE(parsed.ok());
        CHECK_FALSE(parsed.value().has_value());
    }
    CHECK(rule("  kernel\tudp   client\t*:53 \r").to_string() == "kernel udp client *:53");
}

TEST_CASE("each wrong field is named with what was expected") {
    CHECK(rule_error("accelerate udp client *:53") ==
          "expected an action ('offload' or 'kernel'), got 'accelerate'");
    CHECK(rule_error("kernel icmp client *:53") ==
          "expected a protocol ('udp', 'tcp' or 'any'), got 'icmp'");
    CHECK(rule_error("kernel udp listener *:53") ==
          "expected a role ('server', 'client' or 'any'), got 'listener'");
    CHECK(rule_error("kernel udp client 198.18.0.0/40:53").find("bad address '198.18.0.0/40:53'") !=
          std::string::npos);
    // Keywords are lower case, as documented.
    CHECK(rule_error("KERNEL udp client *:53").find("got 'KERNEL'") != std::string::npos);
}

TEST_CASE("too few or too many fields show the shape of a rule") {
    CHECK(rule_error("kernel udp client") ==
          "incomplete rule 'kernel udp client' (a rule is: ACTION PROTOCOL ROLE ADDRESS[:PORTS])");
    CHECK(rule_error("  offload").find("incomplete rule 'offload'") != std::string::npos);
    CHECK(rule_error("kernel\tudp  client \r").find("incomplete rule 'kernel udp client'") !=
          std::string::npos);
    CHECK(rule_error("kernel udp client *:53 extra") ==
          "unexpected 'extra' after the address (a rule is: ACTION PROTOCOL ROLE ADDRESS[:PORTS])");
    // IPv6 with a space before the port is a common slip: not silently accepted.
    CHECK(rule_error("kernel udp client fd00::1 53").find("unexpected '53'") != std::string::npos);
}

TEST_CASE("the protocol must match unless the rule says any") {
    const auto udp_socket = client(L4Proto::udp, "198.18.0.1:40000", "198.18.0.2:53");
    const auto tcp_socket = client(L4Proto::tcp, "198.18.0.1:40000", "198.18.0.2:53");
    CHECK(rule("kernel udp any *:53").matches(udp_socket));
    CHECK_FALSE(rule("kernel udp any *:53").matches(tcp_socket));
    CHECK(rule("kernel tcp any *:53").matches(tcp_socket));
    CHECK_FALSE(rule("kernel tcp any *:53").matches(udp_socket));
    CHECK(rule("kernel any any *:53").matches(udp_socket));
    CHECK(rule("kernel any any *:53").matches(tcp_socket));
}

TEST_CASE("a server is matched on its local (bound) address, a client on its remote one") {
    // A client on port 7000 talking to a server on 9000, and the server itself.
    const auto c = client(L4Proto::tcp, "198.18.0.1:7000", "198.18.0.2:9000");
    const auto s = server(L4Proto::tcp, "198.18.0.2:9000");
    const Rule server_rule = rule("offload tcp server 198.18.0.2:9000");
    const Rule client_rule = rule("offload tcp client 198.18.0.2:9000");
    const Rule either = rule("offload tcp any 198.18.0.2:9000");
    CHECK(server_rule.matches(s));
    CHECK_FALSE(server_rule.matches(c));  // right endpoint, wrong role
    CHECK(client_rule.matches(c));
    CHECK_FALSE(client_rule.matches(s));
    CHECK(either.matches(s));  // `any`: the service endpoint of both sides
    CHECK(either.matches(c));
    // The client's own local port never matters.
    CHECK_FALSE(rule("offload tcp client *:7000").matches(c));
    CHECK_FALSE(rule("offload tcp client 198.18.0.1").matches(c));
}

TEST_CASE("a server bound to the wildcard is covered by `*` or a /0, not by a narrower prefix") {
    const auto v4_any = server(L4Proto::udp, "0.0.0.0:5000");
    const auto v6_any = server(L4Proto::udp, "[::]:5000");
    CHECK(rule("offload udp server *:5000").matches(v4_any));
    CHECK(rule("offload udp server *:5000").matches(v6_any));
    CHECK(rule("offload udp server 0.0.0.0/0:5000").matches(v4_any));
    CHECK_FALSE(rule("offload udp server 0.0.0.0/0:5000").matches(v6_any));
    CHECK(rule("offload udp server [::/0]:5000").matches(v6_any));
    CHECK_FALSE(rule("offload udp server 198.18.0.0/15:5000").matches(v4_any));
}

TEST_CASE("an IPv6 socket talking to an IPv4-mapped peer matches IPv4 rules") {
    const auto mapped =
        client(L4Proto::tcp, "[::ffff:198.18.0.1]:40000", "[::ffff:198.18.0.2]:7000");
    CHECK(rule("offload tcp client 198.18.0.0/15:7000").matches(mapped));
    CHECK_FALSE(rule("offload tcp client [fd00:198:18::/64]:7000").matches(mapped));
}
