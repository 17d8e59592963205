// UdpDemux: the XDP program's precedence (connected, bound, wildcard of the
// family), dual-stack and V6ONLY wildcards, duplicates and removal.
#include "udp/udp_demux.h"

#include <catch2/catch.hpp>

#include "udp/mapped_address.h"
#include "udp_test_support.h"

using namespace xlane;
using namespace xlane::udp;
using namespace xlane::udp::test;

namespace {

constexpr uint16_t kPort = 5001;

std::optional<DemuxHit> from(const UdpDemux& d, const packet::Ipv6Addr& local,
                             const packet::Ipv6Addr& remote, uint16_t remote_port = 40000) {
    return d.lookup(local, kPort, remote, remote_port);
}

void check_hit(const std::optional<DemuxHit>& hit, UdpSocketId socket, DemuxMatch match) {
    REQUIRE(hit);
    CHECK(hit->socket == socket);
    CHECK(hit->match == match);
}

}  // namespace

TEST_CASE("IPv4 precedence: connected, bound, 0.0.0.0, dual-stack ::", "[udp][demux]") {
    UdpDemux d;
    CHECK_FALSE(from(d, kIp4B, kIp4A));
    REQUIRE(d.add_bound(kAnyIpv6, kPort, 4).ok());
    check_hit(from(d, kIp4B, kIp4A), 4, DemuxMatch::kWildcard);
    REQUIRE(d.add_bound(kAnyIpv4Mapped, kPort, 3).ok());
    check_hit(from(d, kIp4B, kIp4A), 3, DemuxMatch::kWildcard);
    REQUIRE(d.add_bound(kIp4B, kPort, 2).ok());
    check_hit(from(d, kIp4B, kIp4A), 2, DemuxMatch::kBound);
    REQUIRE(d.add_connected(kIp4B, kPort, kIp4A, 40000, 1).ok());
    check_hit(from(d, kIp4B, kIp4A), 1, DemuxMatch::kConnected);
    // Another peer, another local address, another port.
    check_hit(from(d, kIp4B, kIp4A, 40001), 2, DemuxMatch::kBound);
    check_hit(from(d, kIp4C, kIp4A), 3, DemuxMatch::kWildcard);
    CHECK_FALSE(d.lookup(kIp4B, kPort + 1, kIp4A, 40000));
    // Taken away in reverse order, each level shows the next.
    CHECK(d.remove_connected(kIp4B, kPort, kIp4A, 40000));
    check_hit(from(d, kIp4B, kIp4A), 2, DemuxMatch::kBound);
    CHECK(d.remove_bound(kIp4B, kPort));
    CHECK(d.remove_bound(kAnyIpv4Mapped, kPort));
    check_hit(from(d, kIp4B, kIp4A), 4, DemuxMatch::kWildcard);
    CHECK_FALSE(d.remove_bound(kAnyIpv4Mapped, kPort));
}

TEST_CASE("IPv6 precedence and V6ONLY", "[udp][demux]") {
    UdpDemux d;
    REQUIRE(d.add_bound(kAnyIpv6, kPort, 4, /*v6only=*/true).ok());
    check_hit(from(d, kIp6B, kIp6A), 4, DemuxMatch::kWildcard);
    CHECK_FALSE(from(d, kIp4B, kIp4A));  // V6ONLY: no IPv4
    REQUIRE(d.add_bound(kAnyIpv4Mapped, kPort, 3).ok());
    check_hit(from(d, kIp4B, kIp4A), 3, DemuxMatch::kWildcard);
    check_hit(from(d, kIp6B, kIp6A), 4, DemuxMatch::kWildcard);  // 0.0.0.0 is IPv4 only
    REQUIRE(d.add_bound(kIp6B, kPort, 2).ok());
    check_hit(from(d, kIp6B, kIp6A), 2, DemuxMatch::kBound);
    check_hit(from(d, kIp6C, kIp6A), 4, DemuxMatch::kWildcard);
    REQUIRE(d.add_connected(kIp6B, kPort, kIp6A, 40000, 1).ok());
    check_hit(from(d, kIp6B, kIp6A), 1, DemuxMatch::kConnected);
    check_hit(from(d, kIp6B, kIp6C), 2, DemuxMatch::kBound);
}

TEST_CASE("a dual-stack socket's IPv4-mapped bind catches IPv4", "[udp][demux]") {
    UdpDemux d;
    REQUIRE(d.add_bound(kIp4B, kPort, 9).ok());  // AF_INET6 bound to ::ffff:198.18.0.2
    check_hit(from(d, kIp4B, kIp4A), 9, DemuxMatch::kBound);
    CHECK_FALSE(from(d, kIp6B, kIp6A));
}

TEST_CASE("demux refusals", "[udp][demux]") {
    UdpDemux d;
    REQUIRE(d.add_bound(kAnyIpv6, kPort, 1).ok());
    CHECK(d.add_bound(kAnyIpv6, kPort, 2).error().errnum == EADDRINUSE);
    REQUIRE(d.add_connected(kIp4B, kPort, kIp4A, 40000, 1).ok());
    CHECK(d.add_connected(kIp4B, kPort, kIp4A, 40000, 2).error().errnum == EADDRINUSE);
    CHECK(d.add_connected(kAnyIpv4Mapped, kPort, kIp4A, 40000, 3).error().errnum == EINVAL);
    CHECK(d.add_connected(kIp4B, kPort, kIp6A, 40000, 3).error().errnum == EINVAL);
    CHECK(d.add_bound(kIp4B, 0, 3).error().errnum == EINVAL);
    CHECK(d.connected_count() == 1);
    CHECK(d.bound_count() == 1);
}

TEST_CASE("lookup of a parsed frame uses its destination as local", "[udp][demux]") {
    UdpDemux d;
    REQUIRE(d.add_connected(kIp4B, 5001, kIp4A, 40000, 11).ok());
    REQUIRE(d.add_bound(kIp6B, 5001, 12).ok());
    uint32_t id = 0;
    for (bool ipv6 : {false, true}) {
        auto frames = encode_frames(make_encoder(make_template(ipv6)), pattern(10), id);
        REQUIRE(frames.ok());
        const auto p = packet::parse_frame(frames->front());
        REQUIRE(p.ok());
        check_hit(d.lookup(p), ipv6 ? 12 : 11, ipv6 ? DemuxMatch::kBound : DemuxMatch::kConnected);
    }
    packet::ParsedFrame not_udp;
    not_udp.protocol = packet::kProtoTcp;
    CHECK_FALSE(d.lookup(not_udp));
}
