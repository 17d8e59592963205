// The ADDRESS[/PREFIX][:PORTS] part of a rule: IPv4 and IPv6 prefixes from /0
// to full length, IPv4-mapped addresses, port ranges, the accepted forms and
// the errors for everything else.
#include "config/endpoint_pattern.h"

#include <catch2/catch.hpp>
#include <string>

using namespace xlane;
using namespace xlane::config;

namespace {

IpAddress ip(const char* text) {
    return IpAddress::parse(text).value();
}

AddressPrefix prefix(const char* text) {
    auto parsed = AddressPrefix::parse(text);
    INFO(text << ": " << (parsed ? "" : parsed.error().message));
    REQUIRE(parsed.ok());
    return parsed.value();
}

std::string prefix_error(const char* text) {
    auto parsed = AddressPrefix::parse(text);
    REQUIRE_FALSE(parsed.ok());
    return parsed.error().message;
}

EndpointPattern pattern(const char* text) {
    auto parsed = EndpointPattern::parse(text);
    INFO(text << ": " << (parsed ? "" : parsed.error().message));
    REQUIRE(parsed.ok());
    return parsed.value();
}

std::string pattern_error(const char* text) {
    auto parsed = EndpointPattern::parse(text);
    INFO(text);
    REQUIRE_FALSE(parsed.ok());
    return parsed.error().message;
}

Endpoint endpoint(const char* address, uint16_t port) {
    return Endpoint{ip(address), port};
}

}  // namespace

TEST_CASE("`*` matches every IPv4 and IPv6 address") {
    const auto any = prefix("*");
    CHECK(any.matches_everything());
    CHECK(any.to_string() == "*");
    for (const char* a : {"0.0.0.0", "198.18.0.1", "255.255.255.255", "::", "fd00:198:18::1",
                          "::ffff:198.18.0.1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"})
        CHECK(any.contains(ip(a)));
}

TEST_CASE("an IPv4 prefix matches IPv4 addresses inside it and nothing else") {
    const auto net = prefix("198.18.0.0/15");
    CHECK(net.contains(ip("198.18.0.0")));
    CHECK(net.contains(ip("198.18.0.1")));
    CHECK(net.contains(ip("198.19.255.255")));
    CHECK_FALSE(net.contains(ip("198.17.255.255")));
    CHECK_FALSE(net.contains(ip("198.20.0.0")));
    CHECK_FALSE(net.contains(ip("fd00:198:18::1")));
    CHECK(net.to_string() == "198.18.0.0/15");
}

TEST_CASE("an IPv4 prefix matches IPv4-mapped addresses of IPv6 sockets") {
    const auto net = prefix("198.18.0.0/24");
    CHECK(net.contains(ip("::ffff:198.18.0.7")));
    CHECK_FALSE(net.contains(ip("::ffff:198.18.1.7")));
    // IPv4-compatible (::a.b.c.d, deprecated) is not IPv4-mapped: native IPv6.
    CHECK_FALSE(net.contains(ip("::198.18.0.7")));
}

TEST_CASE("an IPv4-mapped prefix is the same as the IPv4 prefix") {
    const auto mapped = prefix("::ffff:198.18.0.0/111");
    CHECK(mapped.to_string() == "198.18.0.0/15");
    CHECK(mapped.contains(ip("198.19.1.1")));
    CHECK_FALSE(mapped.contains(ip("198.20.0.0")));
    CHECK(prefix("::ffff:198.18.0.5").to_string() == "198.18.0.5/32");
}

TEST_CASE("IPv4 /0 is every IPv4 address, not IPv6; /32 is one address") {
    const auto all_v4 = prefix("0.0.0.0/0");
    CHECK_FALSE(all_v4.matches_everything());
    CHECK(all_v4.contains(ip("0.0.0.0")));
    CHECK(all_v4.contains(ip("255.255.255.255")));
    CHECK(all_v4.contains(ip("::ffff:10.1.2.3")));
    CHECK_FALSE(all_v4.contains(ip("::")));
    CHECK_FALSE(all_v4.contains(ip("fd00::1")));
    CHECK(all_v4.to_string() == "0.0.0.0/0");

    const auto host = prefix("198.18.0.2/32");
    CHECK(host.contains(ip("198.18.0.2")));
    CHECK_FALSE(host.contains(ip("198.18.0.3")));
    CHECK_FALSE(host.contains(ip("198.18.0.0")));
    CHECK(prefix("198.18.0.2").to_string() == "198.18.0.2/32");  // no length: one host
}

TEST_CASE("IPv6 /0 is every address (IPv4 included, as IPv4-mapped); /128 is one") {
    const auto all = prefix("::/0");
    CHECK(all.matches_everything());
    CHECK(all.contains(ip("fd00::1")));
    CHECK(all.contains(ip("198.18.0.1")));
    CHECK(all.to_string() == "::/0");

    const auto host = prefix("fd00:198:18::2/128");
    CHECK(host.contains(ip("fd00:198:18::2")));
    CHECK_FALSE(host.contains(ip("fd00:198:18::3")));
    CHECK(prefix("::1").to_string() == "::1/128");
}

TEST_CASE("IPv6 prefixes compare whole bytes and the bits of a partial byte") {
    const auto net = prefix("fd00:198:18::/64");
    CHECK(net.contains(ip("fd00:198:18::1")));
    CHECK(net.contains(ip("fd00:198:18:0:ffff:ffff:ffff:ffff")));
    CHECK_FALSE(net.contains(ip("fd00:198:18:1::1")));
    CHECK(net.to_string() == "fd00:198:18::/64");

    const auto odd = prefix("fd00::/9");  // 1111 1101 0: fd00 to fd7f
    CHECK(odd.contains(ip("fd7f::1")));
    CHECK_FALSE(odd.contains(ip("fd80::1")));
    CHECK_FALSE(odd.contains(ip("fc00::1")));
    CHECK(prefix("ff00::/8").contains(ip("ff02::1")));
    CHECK_FALSE(prefix("ff00::/8").contains(ip("fe80::1")));
}

TEST_CASE("bad prefixes say what is wrong") {
    CHECK(prefix_error("198.18.0.256").find("is not an IPv4 or IPv6 address") != std::string::npos);
    CHECK(prefix_error("example.com").find("'example.com'") != std::string::npos);
    CHECK(prefix_error("198.18.0.0/33").find("IPv4 prefix length (0-32)") != std::string::npos);
    CHECK(prefix_error("fd00::/129").find("IPv6 prefix length (0-128)") != std::string::npos);
    CHECK(prefix_error("198.18.0.0/").find("prefix length") != std::string::npos);
    CHECK(prefix_error("198.18.0.0/-1").find("prefix length") != std::string::npos);
    CHECK(prefix_error("198.18.0.0/1x").find("prefix length") != std::string::npos);
    CHECK(prefix_error("").find("IPv4 or IPv6") != std::string::npos);
}

TEST_CASE("a prefix with host bits set is refused with the corrected prefix") {
    CHECK(prefix_error("198.18.0.1/15").find("did you mean 198.18.0.0/15?") != std::string::npos);
    CHECK(prefix_error("fd00:198:18::1/64").find("did you mean fd00:198:18::/64?") !=
          std::string::npos);
    CHECK(prefix_error("10.0.0.1/0").find("did you mean 0.0.0.0/0?") != std::string::npos);
}

TEST_CASE("port ranges: *, one port, LOW-HIGH, inclusive") {
    auto any = PortRange::parse("*").value();
    CHECK(any.contains(0));
    CHECK(any.contains(65535));
    CHECK(any.to_string() == "*");

    auto dns = PortRange::parse("53").value();
    CHECK(dns.contains(53));
    CHECK_FALSE(dns.contains(52));
    CHECK_FALSE(dns.contains(54));
    CHECK(dns.to_string() == "53");

    auto range = PortRange::parse("5000-5100").value();
    CHECK(range.contains(5000));
    CHECK(range.contains(5100));
    CHECK_FALSE(range.contains(4999));
    CHECK_FALSE(range.contains(5101));
    CHECK(range.to_string() == "5000-5100");

    CHECK(PortRange::parse("0-65535").value().is_any());
    CHECK(PortRange::parse("7-7").value().to_string() == "7");
}

TEST_CASE("bad ports say what is wrong") {
    CHECK(PortRange::parse("65536").error().message.find("not a port (0-65535)") !=
          std::string::npos);
    CHECK(PortRange::parse("5100-5000").error().message.find("ends before it starts") !=
          std::string::npos);
    CHECK_FALSE(PortRange::parse("").ok());
    CHECK_FALSE(PortRange::parse("-5").ok());
    CHECK_FALSE(PortRange::parse("5-").ok());
    CHECK_FALSE(PortRange::parse("dns").ok());
    CHECK_FALSE(PortRange::parse("+53").ok());
    CHECK_FALSE(PortRange::parse("1-2-3").ok());
}

TEST_CASE("endpoint forms: *, *:PORTS, IPv4[/LEN][:PORTS], [IPv6[/LEN]][:PORTS], bare IPv6") {
    CHECK(pattern("*").to_string() == "*");
    CHECK(pattern("*:53").to_string() == "*:53");
    CHECK(pattern("198.18.0.0/15:7000-7100").to_string() == "198.18.0.0/15:7000-7100");
    CHECK(pattern("198.18.0.2").to_string() == "198.18.0.2/32");
    CHECK(pattern("198.18.0.2:*").to_string() == "198.18.0.2/32");
    CHECK(pattern("[fd00:198:18::/64]:7000").to_string() == "[fd00:198:18::/64]:7000");
    CHECK(pattern("[fd00:198:18::2]").to_string() == "fd00:198:18::2/128");
    CHECK(pattern("fd00:198:18::/64").to_string() == "fd00:198:18::/64");
    CHECK(pattern("[*]:53").to_string() == "*:53");
    // A bare IPv6 address takes no port: the last group is part of the address.
    CHECK(pattern("fd00::1:53").to_string() == "fd00::1:53/128");
}

TEST_CASE("an endpoint pattern matches the address and the port") {
    const auto p = pattern("198.18.0.0/15:7000-7100");
    CHECK(p.matches(endpoint("198.18.0.2", 7000)));
    CHECK(p.matches(endpoint("::ffff:198.19.0.2", 7100)));
    CHECK_FALSE(p.matches(endpoint("198.18.0.2", 7101)));
    CHECK_FALSE(p.matches(endpoint("198.20.0.2", 7000)));

    const auto v6 = pattern("[fd00:198:18::/64]:7000");
    CHECK(v6.matches(endpoint("fd00:198:18::9", 7000)));
    CHECK_FALSE(v6.matches(endpoint("fd00:198:18::9", 7001)));
    CHECK_FALSE(v6.matches(endpoint("198.18.0.9", 7000)));
}

TEST_CASE("bad endpoints say what is wrong") {
    CHECK(pattern_error("[fd00::1:53").find("without closing ']'") != std::string::npos);
    CHECK(pattern_error("[fd00::1]53").find("expected ':PORTS'") != std::string::npos);
    CHECK(pattern_error("[fd00::1]:").find("expected ':PORTS'") != std::string::npos);
    CHECK(pattern_error("[198.18.0.1]:53").find("brackets are for IPv6") != std::string::npos);
    CHECK(pattern_error("198.18.0.1:").find("is not ADDRESS:PORTS") != std::string::npos);
    CHECK(pattern_error(":53").find("is not ADDRESS:PORTS") != std::string::npos);
    CHECK(pattern_error("198.18.0.1:99999").find("not a port") != std::string::npos);
    CHECK(pattern_error("localhost:53").find("'localhost'") != std::string::npos);
}
