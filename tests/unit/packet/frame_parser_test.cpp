// FrameParser: builder round trips, every rejection reason, truncation at
// every length, checksum verification and the XDP reason mapping.
#include "packet/frame_parser.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "frame_test_support.h"
#include "packet/frame_builder.h"

using namespace xlane::packet;
using namespace xlane::packet::test;

namespace {

FrameBuilder eth() {
    return std::move(FrameBuilder().eth(kMacA, kMacB));
}

}  // namespace

TEST_CASE("IPv4 UDP round trip", "[parser]") {
    const std::vector<uint8_t> data = {1, 2, 3, 4, 5, 6, 7};
    const auto f = eth().ipv4(kIp4A, kIp4B).ttl(9).udp(5353, 9000).payload(data).build();
    const auto p = parse_frame(f);
    REQUIRE(p.ok());
    CHECK(p.is_ipv4());
    CHECK(p.protocol == kProtoUdp);
    CHECK(p.ttl == 9);
    CHECK(p.src_addr == ipv4_mapped(kIp4A));
    CHECK(p.dst_addr == ipv4_mapped(kIp4B));
    CHECK(p.src_port == 5353);
    CHECK(p.dst_port == 9000);
    CHECK(p.l3_offset == 14);
    CHECK(p.l4_offset == 34);
    CHECK(p.payload_offset == 42);
    REQUIRE(p.payload_length == data.size());
    CHECK(std::memcmp(&f[p.payload_offset], data.data(), data.size()) == 0);
}

TEST_CASE("IPv6 TCP round trip", "[parser]") {
    const std::vector<uint8_t> ts = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
    const auto f = eth()
                       .ipv6(kIp6A, kIp6B)
                       .tcp(40000, 443, tcp_flags::kPsh | tcp_flags::kAck, 7, 9)
                       .tcp_window(512)
                       .tcp_options(ts)
                       .payload_size(100)
                       .build();
    const auto p = parse_frame(f);
    REQUIRE(p.ok());
    CHECK(p.ip_version == 6);
    CHECK(p.protocol == kProtoTcp);
    CHECK(p.src_addr == kIp6A);
    CHECK(p.dst_addr == kIp6B);
    CHECK(p.src_port == 40000);
    CHECK(p.dst_port == 443);
    CHECK(p.tcp_flags == (tcp_flags::kPsh | tcp_flags::kAck));
    CHECK(p.tcp_seq == 7);
    CHECK(p.tcp_ack == 9);
    CHECK(p.tcp_window == 512);
    CHECK(p.payload_offset == 14 + 40 + 32);
    CHECK(p.payload_length == 100);
}

TEST_CASE("VLAN, QinQ, IPv4 options and Ethernet padding parse", "[parser]") {
    const std::vector<uint8_t> opts = {0x94, 0x04, 0, 0, 1, 1, 1, 0};
    const auto f = eth()
                       .vlan(10, kEtherTypeQinQ)
                       .vlan(20)
                       .ipv4(kIp4A, kIp4B)
                       .ipv4_options(opts)
                       .udp(1, 2)
                       .payload_size(1)
                       .pad_to(80)
                       .build();
    const auto p = parse_frame(f);
    REQUIRE(p.ok());
    CHECK(p.vlan_count == 2);
    CHECK(p.vlan_ids[0] == 10);
    CHECK(p.vlan_ids[1] == 20);
    CHECK(p.l3_offset == 22);
    CHECK(p.l4_offset == 22 + 28);
    CHECK(p.payload_length == 1);  // from the UDP length, not the padded frame

    const auto tcp_padded = eth().vlan(3).ipv4(kIp4A, kIp4B).tcp(1, 2).pad_to(64).build();
    const auto q = parse_frame(tcp_padded);
    REQUIRE(q.ok());
    CHECK(q.payload_length == 0);  // from the IP total length, not the padded frame
}

TEST_CASE("every rejection reason", "[parser]") {
    struct Row {
        const char* name;
        std::vector<uint8_t> frame;
        ParseError error;
        xlane_xdp_reason reason;
    };
    const std::vector<Row> rows = {
        {"13 bytes", std::vector<uint8_t>(13, 0), ParseError::kTruncatedEthernet,
         XLANE_REASON_PASS_MALFORMED},
        {"cut VLAN tag", eth().vlan(1).ipv4(kIp4A, kIp4B).udp(1, 2).truncate(17).build(),
         ParseError::kTruncatedVlan, XLANE_REASON_PASS_MALFORMED},
        {"ARP", eth().arp(1, kMacA, kIp4A, {}, kIp4B).build(), ParseError::kNotIp,
         XLANE_REASON_PASS_NOT_IP},
        {"three VLAN tags",
         eth().vlan(1, kEtherTypeQinQ).vlan(2).vlan(3).ipv4(kIp4A, kIp4B).udp(1, 2).build(),
         ParseError::kNotIp, XLANE_REASON_PASS_NOT_IP},
        {"cut IPv4 header", eth().ipv4(kIp4A, kIp4B).udp(1, 2).truncate(33).build(),
         ParseError::kTruncatedIpHeader, XLANE_REASON_PASS_MALFORMED},
        {"IPv4 ethertype, version 6", eth().ipv4(kIp4A, kIp4B).ip_version(6).udp(1, 2).build(),
         ParseError::kBadIpVersion, XLANE_REASON_PASS_MALFORMED},
        {"IPv6 ethertype, version 4", eth().ipv6(kIp6A, kIp6B).ip_version(4).udp(1, 2).build(),
         ParseError::kBadIpVersion, XLANE_REASON_PASS_MALFORMED},
        {"IHL 4", eth().ipv4(kIp4A, kIp4B).ipv4_ihl(4).udp(1, 2).build(),
         ParseError::kBadIpv4HeaderLength, XLANE_REASON_PASS_MALFORMED},
        {"tot_len beyond frame", eth().ipv4(kIp4A, kIp4B).ipv4_total_length(29).udp(1, 2).build(),
         ParseError::kBadIpLength, XLANE_REASON_PASS_MALFORMED},
        {"tot_len below IHL", eth().ipv4(kIp4A, kIp4B).ipv4_total_length(19).udp(1, 2).build(),
         ParseError::kBadIpLength, XLANE_REASON_PASS_MALFORMED},
        {"IHL 15 beyond tot_len", eth().ipv4(kIp4A, kIp4B).ipv4_ihl(15).udp(1, 2).build(),
         ParseError::kBadIpLength, XLANE_REASON_PASS_MALFORMED},
        {"IPv6 payload beyond frame",
         eth().ipv6(kIp6A, kIp6B).ipv6_payload_length(9).udp(1, 2).build(),
         ParseError::kBadIpLength, XLANE_REASON_PASS_MALFORMED},
        {"IPv4 MF", eth().ipv4(kIp4A, kIp4B).ipv4_fragment(0, true).udp(1, 2).build(),
         ParseError::kFragment, XLANE_REASON_PASS_FRAGMENT},
        {"IPv4 offset",
         eth()
             .ipv4(kIp4A, kIp4B)
             .ipv4_fragment(1, false)
             .ip_protocol(kProtoUdp)
             .payload_size(8)
             .build(),
         ParseError::kFragment, XLANE_REASON_PASS_FRAGMENT},
        {"IPv6 fragment header", eth().ipv6(kIp6A, kIp6B).ipv6_fragment(0, true).udp(1, 2).build(),
         ParseError::kFragment, XLANE_REASON_PASS_FRAGMENT},
        {"IPv6 hop-by-hop", eth().ipv6(kIp6A, kIp6B).ipv6_extension(0).udp(1, 2).build(),
         ParseError::kIpv6ExtensionHeader, XLANE_REASON_PASS_IPV6_EXTHDR},
        {"IPv6 destination options",
         eth().ipv6(kIp6A, kIp6B).ipv6_extension(60, 24).tcp(1, 2).build(),
         ParseError::kIpv6ExtensionHeader, XLANE_REASON_PASS_IPV6_EXTHDR},
        {"ICMP", eth().ipv4(kIp4A, kIp4B).icmp(8, 0).build(), ParseError::kNotUdpTcp,
         XLANE_REASON_PASS_NOT_L4},
        {"ICMPv6", eth().ipv6(kIp6A, kIp6B).icmp(128, 0).build(), ParseError::kNotUdpTcp,
         XLANE_REASON_PASS_NOT_L4},
        {"SCTP", eth().ipv4(kIp4A, kIp4B).ip_protocol(132).payload_size(12).build(),
         ParseError::kNotUdpTcp, XLANE_REASON_PASS_NOT_L4},
        {"UDP header beyond frame",
         eth().ipv4(kIp4A, kIp4B).ip_protocol(kProtoUdp).payload_size(4).build(),
         ParseError::kTruncatedL4Header, XLANE_REASON_PASS_MALFORMED},
        {"TCP header beyond frame",
         eth().ipv6(kIp6A, kIp6B).ip_protocol(kProtoTcp).payload_size(19).build(),
         ParseError::kTruncatedL4Header, XLANE_REASON_PASS_MALFORMED},
        {"UDP length 7", eth().ipv4(kIp4A, kIp4B).udp(1, 2).udp_length(7).build(),
         ParseError::kBadUdpLength, XLANE_REASON_PASS_MALFORMED},
        {"UDP length beyond IP payload", eth().ipv6(kIp6A, kIp6B).udp(1, 2).udp_length(9).build(),
         ParseError::kBadUdpLength, XLANE_REASON_PASS_MALFORMED},
        {"UDP header in padding only",
         eth().ipv4(kIp4A, kIp4B).ipv4_total_length(24).udp(1, 2).build(),
         ParseError::kBadUdpLength, XLANE_REASON_PASS_MALFORMED},
        {"TCP data offset 4", eth().ipv4(kIp4A, kIp4B).tcp(1, 2).tcp_data_offset(4).build(),
         ParseError::kBadTcpDataOffset, XLANE_REASON_PASS_MALFORMED},
        {"TCP data offset beyond IP payload",
         eth().ipv6(kIp6A, kIp6B).tcp(1, 2).tcp_data_offset(6).build(),
         ParseError::kBadTcpDataOffset, XLANE_REASON_PASS_MALFORMED},
        {"bad IPv4 checksum", eth().ipv4(kIp4A, kIp4B).corrupt_ip_checksum().udp(1, 2).build(),
         ParseError::kBadIpv4Checksum, XLANE_REASON_PASS_NO_MATCH},
        {"bad UDP checksum", eth().ipv4(kIp4A, kIp4B).udp(1, 2).corrupt_l4_checksum().build(),
         ParseError::kBadL4Checksum, XLANE_REASON_PASS_NO_MATCH},
        {"bad TCP checksum",
         eth().ipv6(kIp6A, kIp6B).tcp(1, 2).payload_size(5).corrupt_l4_checksum().build(),
         ParseError::kBadL4Checksum, XLANE_REASON_PASS_NO_MATCH},
        {"zero UDP checksum over IPv6",
         eth().ipv6(kIp6A, kIp6B).udp(1, 2).udp_zero_checksum().build(), ParseError::kBadL4Checksum,
         XLANE_REASON_PASS_NO_MATCH},
    };
    std::set<ParseError> covered;
    for (const auto& row : rows) {
        INFO(row.name);
        const auto p = parse_frame(row.frame);
        CHECK(p.error == row.error);
        CHECK(to_string(p.error) == to_string(row.error));
        CHECK(xdp_reason_for(p.error) == row.reason);
        covered.insert(row.error);
    }
    // Every error but kNone has a row.
    CHECK(covered.size() == static_cast<size_t>(ParseError::kBadL4Checksum));
}

TEST_CASE("checksum checks are optional and zero UDP checksum is fine on IPv4", "[parser]") {
    const auto bad = eth().ipv4(kIp4A, kIp4B).udp(1, 2).corrupt_l4_checksum().build();
    CHECK(parse_frame(bad, {.verify_checksums = false}).ok());
    const auto zero =
        eth().ipv4(kIp4A, kIp4B).udp(1, 2).payload_size(3).udp_zero_checksum().build();
    CHECK(parse_frame(zero).ok());
    // A structural error outranks a bad IPv4 checksum (XDP order).
    const auto both =
        eth().ipv4(kIp4A, kIp4B).corrupt_ip_checksum().udp(1, 2).udp_length(3).build();
    CHECK(parse_frame(both).error == ParseError::kBadUdpLength);
}

// Frames Linux 6.18 put on a veth with the sender's default offloads (tx
// checksumming on), captured at the receiving end with AF_PACKET: their
// UDP/TCP checksum fields hold only the pseudo-header sum (CHECKSUM_PARTIAL).
namespace {

std::vector<uint8_t> from_hex(std::string_view hex) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2)
        out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    return out;
}

const char* const kPartialUdp4 =
    "de7bca0f286c020000000001080045000021a31c40004011fd87c6120701c61207029c401b58000d9a4668656c6c6"
    "f";
const char* const kPartialTcp4Syn =
    "de7bca0f286c02000000000108004500003c77af4000400628e5c6120701c61207029c411b5974a45daf00000000a0"
    "02faf09a560000020405b40402080a28cb92fe000000000103030a";
const char* const kPartialUdp6 =
    "de7bca0f286c02000000000186dd60069e5b000d1140fd000198001800000000000000000001fd00019800180000000"
    "00000000000029c401b58000dfd8268656c6c6f";

}  // namespace

TEST_CASE("a local sender's partial checksum is accepted only when asked", "[parser]") {
    const ParseOptions partial_ok{.accept_partial_checksums = true};
    for (const char* hex : {kPartialUdp4, kPartialTcp4Syn, kPartialUdp6}) {
        INFO(hex);
        const auto frame = from_hex(hex);
        CHECK(parse_frame(frame).error == ParseError::kBadL4Checksum);
        const auto p = parse_frame(frame, partial_ok);
        REQUIRE(p.ok());
        CHECK(p.partial_checksum);
        CHECK(p.src_port == (p.protocol == kProtoTcp ? 40001 : 40000));
        CHECK(p.dst_port == (p.protocol == kProtoTcp ? 7001 : 7000));
    }
    // The pseudo-header sum covers the addresses: a frame whose source
    // changed on the way no longer matches it.
    auto moved = from_hex(kPartialUdp6);
    moved[14 + 8 + 15] ^= 0x04;  // last byte of the IPv6 source
    CHECK(parse_frame(moved, partial_ok).error == ParseError::kBadL4Checksum);
    // A wrong sum of any other value is still wrong; a right one is not partial.
    const auto bad = eth().ipv6(kIp6A, kIp6B).tcp(1, 2).payload_size(5).corrupt_l4_checksum().build();
    CHECK(parse_frame(bad, partial_ok).error == ParseError::kBadL4Checksum);
    const auto good = eth().ipv4(kIp4A, kIp4B).udp(1, 2).payload_size(5).build();
    const auto p = parse_frame(good, partial_ok);
    CHECK(p.ok());
    CHECK_FALSE(p.partial_checksum);
}

TEST_CASE("truncation at every length is rejected for the right reason", "[parser]") {
    const std::vector<uint8_t> opts = {0x94, 0x04, 0, 0};
    const std::vector<std::pair<const char*, std::vector<uint8_t>>> frames = {
        {"v4 udp", eth().ipv4(kIp4A, kIp4B).udp(1, 2).payload_size(6).build()},
        {"v6 tcp", eth().ipv6(kIp6A, kIp6B).tcp(1, 2).payload_size(6).build()},
        {"qinq v4 opts tcp", eth()
                                 .vlan(1, kEtherTypeQinQ)
                                 .vlan(2)
                                 .ipv4(kIp4A, kIp4B)
                                 .ipv4_options(opts)
                                 .tcp(1, 2)
                                 .build()},
        {"vlan v6 udp", eth().vlan(7).ipv6(kIp6A, kIp6B).udp(1, 2).build()},
    };
    for (const auto& [name, full] : frames) {
        const auto whole = parse_frame(full);
        REQUIRE(whole.ok());
        const size_t ip_fixed = whole.is_ipv4() ? kIpv4HeaderLen : kIpv6HeaderLen;
        for (size_t len = 0; len < full.size(); ++len) {
            INFO(name << " cut to " << len);
            const auto p = parse_frame(Bytes(full.data(), len));
            ParseError expected = ParseError::kBadIpLength;  // IP length beyond the cut
            if (len < kEthHeaderLen)
                expected = ParseError::kTruncatedEthernet;
            else if (len < whole.l3_offset)
                expected = ParseError::kTruncatedVlan;
            else if (len < whole.l3_offset + ip_fixed)
                expected = ParseError::kTruncatedIpHeader;
            REQUIRE(p.error == expected);
            REQUIRE(xdp_reason_for(p.error) == XLANE_REASON_PASS_MALFORMED);
        }
    }
}

TEST_CASE("flow key is what xlane_steer looks up", "[parser]") {
    const auto f = eth().ipv4(kIp4A, kIp4B).udp(0x1234, 0xabcd).build();
    const auto key = flow_key_of(parse_frame(f));
    CHECK(std::memcmp(key.local_addr.bytes, ipv4_mapped(kIp4B).data(), 16) == 0);
    CHECK(std::memcmp(key.remote_addr.bytes, ipv4_mapped(kIp4A).data(), 16) == 0);
    const auto* local = reinterpret_cast<const uint8_t*>(&key.local_port_be);
    const auto* remote = reinterpret_cast<const uint8_t*>(&key.remote_port_be);
    CHECK(local[0] == 0xab);
    CHECK(local[1] == 0xcd);
    CHECK(remote[0] == 0x12);
    CHECK(remote[1] == 0x34);
    CHECK(key.proto == kProtoUdp);
    CHECK(key.pad[0] == 0);
}
