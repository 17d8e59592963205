// Typed steering keys against the ABI the XDP program reads: IPv4 stored
// IPv4-mapped, ports in network order, wildcards, round trips; the owner's
// start time; the counter reason names.
#include <arpa/inet.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "steering/steering_table.h"
#include "xdp/xdp_counters.h"
#include "xdp/xdp_query.h"

using namespace xlane;

TEST_CASE("IPv4 addresses are stored IPv4-mapped and print as dotted quads") {
    auto addr = IpAddress::parse("198.18.0.2");
    REQUIRE(addr.ok());
    const uint8_t expected[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 2};
    CHECK(std::memcmp(addr->raw().bytes, expected, 16) == 0);
    CHECK(addr->is_v4());
    CHECK_FALSE(addr->is_any());
    CHECK(addr->to_string() == "198.18.0.2");
}

TEST_CASE("IPv6 addresses are stored as they are") {
    auto addr = IpAddress::parse("fd00:198:18::2");
    REQUIRE(addr.ok());
    CHECK_FALSE(addr->is_v4());
    CHECK(addr->raw().bytes[0] == 0xfd);
    CHECK(addr->raw().bytes[15] == 2);
    CHECK(addr->to_string() == "fd00:198:18::2");
}

TEST_CASE("wildcards match the ABI's XLANE_ADDR_ANY4 and XLANE_ADDR_ANY6") {
    CHECK(IpAddress::parse("0.0.0.0").value() == IpAddress::any_v4());
    CHECK(IpAddress::parse("::").value() == IpAddress::any_v6());
    CHECK(IpAddress::any_v4().is_any());
    CHECK(IpAddress::any_v6().is_any());
    CHECK(IpAddress::any_v4().raw().bytes[10] == 0xff);
    CHECK_FALSE(IpAddress::any_v4() == IpAddress::any_v6());
}

TEST_CASE("malformed addresses and endpoints are refused with a message") {
    auto bad = IpAddress::parse("198.18.0.256");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message.find("198.18.0.256") != std::string::npos);
    CHECK_FALSE(Endpoint::parse("198.18.0.2").ok());
    CHECK_FALSE(Endpoint::parse("198.18.0.2:").ok());
    CHECK_FALSE(Endpoint::parse("198.18.0.2:65536").ok());
    CHECK_FALSE(Endpoint::parse("198.18.0.2:12x").ok());
}

TEST_CASE("endpoints print and parse in both families") {
    auto v4 = Endpoint::parse("198.18.0.2:9000");
    REQUIRE(v4.ok());
    CHECK(v4->port == 9000);
    CHECK(v4->to_string() == "198.18.0.2:9000");
    auto v6 = Endpoint::parse("[fd00:198:18::2]:443");
    REQUIRE(v6.ok());
    CHECK(v6->port == 443);
    CHECK(v6->to_string() == "[fd00:198:18::2]:443");
}

TEST_CASE("endpoints come from sockaddr_in and sockaddr_in6") {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(5000);
    REQUIRE(::inet_pton(AF_INET, "198.18.0.1", &in.sin_addr) == 1);
    auto e4 = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&in), sizeof(in));
    REQUIRE(e4.ok());
    CHECK(e4->to_string() == "198.18.0.1:5000");

    // A v4-mapped IPv6 socket address gives the same key as the IPv4 one.
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(5000);
    REQUIRE(::inet_pton(AF_INET6, "::ffff:198.18.0.1", &in6.sin6_addr) == 1);
    auto e6 = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&in6), sizeof(in6));
    REQUIRE(e6.ok());
    CHECK(e6->addr == e4->addr);

    sockaddr un{};
    un.sa_family = AF_UNIX;
    CHECK_FALSE(Endpoint::from_sockaddr(&un, sizeof(un)).ok());
    CHECK_FALSE(Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&in), 4).ok());
}

TEST_CASE("bind keys carry the port in network order and round-trip") {
    const BindKey key{L4Proto::udp, Endpoint::parse("198.18.0.2:9000").value()};
    const xlane_bind_key raw = key.to_abi();
    CHECK(raw.local_port_be == htons(9000));
    CHECK(raw.proto == IPPROTO_UDP);
    CHECK(raw.pad == 0);
    CHECK(raw.local_addr.bytes[12] == 198);
    auto back = BindKey::from_abi(raw);
    REQUIRE(back.ok());
    CHECK(back->proto == L4Proto::udp);
    CHECK(back->local.to_string() == "198.18.0.2:9000");
}

TEST_CASE("flow keys are seen from this host and round-trip") {
    const FlowKey key{L4Proto::tcp, Endpoint::parse("[fd00:198:18::2]:80").value(),
                      Endpoint::parse("[fd00:198:18::1]:40000").value()};
    const xlane_flow_key raw = key.to_abi();
    CHECK(raw.local_port_be == htons(80));
    CHECK(raw.remote_port_be == htons(40000));
    CHECK(raw.proto == IPPROTO_TCP);
    CHECK((raw.pad[0] | raw.pad[1] | raw.pad[2]) == 0);
    auto back = FlowKey::from_abi(raw);
    REQUIRE(back.ok());
    CHECK(back->local.to_string() == "[fd00:198:18::2]:80");
    CHECK(back->remote.to_string() == "[fd00:198:18::1]:40000");
}

TEST_CASE("a key with an unknown protocol is reported, not guessed") {
    xlane_bind_key raw{};
    raw.proto = IPPROTO_ICMP;
    CHECK_FALSE(BindKey::from_abi(raw).ok());
}

TEST_CASE("protocols and XDP modes parse from their names only") {
    CHECK(parse_l4_proto("udp").value() == L4Proto::udp);
    CHECK(parse_l4_proto("tcp").value() == L4Proto::tcp);
    CHECK_FALSE(parse_l4_proto("sctp").ok());
    CHECK(parse_xdp_mode("native").value() == XdpMode::native);
    CHECK(parse_xdp_mode("skb").value() == XdpMode::skb);
    CHECK_FALSE(parse_xdp_mode("hw").ok());
}

TEST_CASE("the owner of an entry is this process, recognisable by its start time") {
    auto owner = SteerOwner::current_process(XLANE_STEER_TEST_ENTRY);
    REQUIRE(owner.ok());
    CHECK(owner->owner_pid == static_cast<uint32_t>(::getpid()));
    CHECK(owner->flags == XLANE_STEER_TEST_ENTRY);
    CHECK(owner->owner_start_time > 0);
    CHECK(SteerOwner::alive(owner.value()));

    xlane_steer_value recycled = owner.value();
    recycled.owner_start_time += 1;  // same pid, another process
    CHECK_FALSE(SteerOwner::alive(recycled));
    CHECK_FALSE(SteerOwner::start_time(-1).ok());
}

TEST_CASE("every XDP reason has a name") {
    for (uint32_t reason = 0; reason < XLANE_REASON_COUNT; ++reason)
        CHECK_FALSE(reason_name(reason).empty());
    CHECK(reason_name(XLANE_REASON_REDIRECT_BIND) == "redirect_bind");
    CHECK(reason_name(XLANE_REASON_PASS_NO_XSK) == "pass_no_xsk");
    CHECK(reason_name(XLANE_REASON_COUNT).empty());
}
