// FrameBuilder: byte layout of every layer, derived types/lengths/checksums,
// and each knob that breaks a frame on purpose.
#include "packet/frame_builder.h"

#include <catch2/catch.hpp>

#include "frame_test_support.h"
#include "packet/checksum.h"

using namespace xlane::packet;
using namespace xlane::packet::test;

TEST_CASE("Ethernet + IPv4 + UDP layout", "[builder]") {
    const std::vector<uint8_t> data = {'h', 'e', 'l', 'l', 'o'};
    const auto f =
        FrameBuilder().eth(kMacA, kMacB).ipv4(kIp4A, kIp4B).udp(1000, 2000).payload(data).build();
    REQUIRE(f.size() == 14 + 20 + 8 + 5);
    CHECK(std::equal(kMacB.begin(), kMacB.end(), f.begin()));      // destination first
    CHECK(std::equal(kMacA.begin(), kMacA.end(), f.begin() + 6));  // then source
    CHECK(load_be16(&f[12]) == kEtherTypeIpv4);
    const uint8_t* ip = &f[14];
    CHECK(ip[0] == 0x45);
    CHECK(load_be16(ip + 2) == 20 + 8 + 5);
    CHECK(ip[8] == 64);
    CHECK(ip[9] == kProtoUdp);
    CHECK(checksum_ok(Bytes(ip, 20)));
    CHECK(std::equal(kIp4A.begin(), kIp4A.end(), ip + 12));
    CHECK(std::equal(kIp4B.begin(), kIp4B.end(), ip + 16));
    const uint8_t* udp = ip + 20;
    CHECK(load_be16(udp) == 1000);
    CHECK(load_be16(udp + 2) == 2000);
    CHECK(load_be16(udp + 4) == 13);
    CHECK(checksum_ok(Bytes(udp, 13), pseudo_header_sum_v4(kIp4A, kIp4B, kProtoUdp, 13)));
    CHECK(std::equal(data.begin(), data.end(), udp + 8));
}

TEST_CASE("IPv6 + TCP layout with flags, options and checksum", "[builder]") {
    const std::vector<uint8_t> mss = {2, 4, 0x05, 0xb4};
    const auto f = FrameBuilder()
                       .eth(kMacA, kMacB)
                       .ipv6(kIp6A, kIp6B)
                       .ttl(7)
                       .tcp(40000, 80, tcp_flags::kSyn | tcp_flags::kAck, 111, 222)
                       .tcp_window(1024)
                       .tcp_options(mss)
                       .payload_size(3)
                       .build();
    REQUIRE(f.size() == 14 + 40 + 24 + 3);
    CHECK(load_be16(&f[12]) == kEtherTypeIpv6);
    const uint8_t* ip6 = &f[14];
    CHECK(ip6[0] >> 4 == 6);
    CHECK(load_be16(ip6 + 4) == 27);
    CHECK(ip6[6] == kProtoTcp);
    CHECK(ip6[7] == 7);
    const uint8_t* tcp = ip6 + 40;
    CHECK(load_be32(tcp + 4) == 111);
    CHECK(load_be32(tcp + 8) == 222);
    CHECK(tcp[12] >> 4 == 6);
    CHECK(tcp[13] == (tcp_flags::kSyn | tcp_flags::kAck));
    CHECK(load_be16(tcp + 14) == 1024);
    CHECK(std::equal(mss.begin(), mss.end(), tcp + 20));
    CHECK(checksum_ok(Bytes(tcp, 27), pseudo_header_sum_v6(kIp6A, kIp6B, kProtoTcp, 27)));
}

TEST_CASE("VLAN and QinQ tags carry the right TPIDs and ids", "[builder]") {
    const auto f = FrameBuilder()
                       .eth(kMacA, kMacB)
                       .vlan(100, kEtherTypeQinQ)
                       .vlan(200, kEtherTypeVlan, 5)
                       .ipv4(kIp4A, kIp4B)
                       .udp(1, 2)
                       .build();
    CHECK(load_be16(&f[12]) == kEtherTypeQinQ);
    CHECK(load_be16(&f[14]) == 100);
    CHECK(load_be16(&f[16]) == kEtherTypeVlan);
    CHECK(load_be16(&f[18]) == ((5 << 13) | 200));
    CHECK(load_be16(&f[20]) == kEtherTypeIpv4);
    CHECK(f[22] == 0x45);
}

TEST_CASE("IPv4 options set IHL and stay covered by the header checksum", "[builder]") {
    const std::vector<uint8_t> router_alert = {0x94, 0x04, 0x00, 0x00};
    const std::vector<uint8_t> three_bytes = {0x01, 0x01, 0x01};  // NOPs, padded to 4
    const auto f = FrameBuilder()
                       .eth(kMacA, kMacB)
                       .ipv4(kIp4A, kIp4B)
                       .ipv4_options(router_alert)
                       .udp(1, 2)
                       .build();
    CHECK(f[14] == 0x46);
    CHECK(checksum_ok(Bytes(&f[14], 24)));
    CHECK(load_be16(&f[14 + 24]) == 1);  // UDP source port after the options
    const auto g = FrameBuilder()
                       .eth(kMacA, kMacB)
                       .ipv4(kIp4A, kIp4B)
                       .ipv4_options(three_bytes)
                       .udp(1, 2)
                       .build();
    CHECK(g[14] == 0x46);
    CHECK(g[14 + 23] == 0);  // end-of-options padding
}

TEST_CASE("IPv4 fragment fields and DF", "[builder]") {
    const auto mf = FrameBuilder()
                        .eth(kMacA, kMacB)
                        .ipv4(kIp4A, kIp4B)
                        .ipv4_fragment(0, true)
                        .udp(1, 2)
                        .build();
    CHECK(load_be16(&mf[14 + 6]) == 0x2000);
    const auto later = FrameBuilder()
                           .eth(kMacA, kMacB)
                           .ipv4(kIp4A, kIp4B)
                           .ipv4_fragment(185, false)
                           .payload_size(16)
                           .build();
    CHECK(load_be16(&later[14 + 6]) == 185);
    CHECK(later[14 + 9] == 253);  // raw payload: experimental protocol
    const auto df = FrameBuilder()
                        .eth(kMacA, kMacB)
                        .ipv4(kIp4A, kIp4B)
                        .ipv4_dont_fragment()
                        .ipv4_id(0xbeef)
                        .udp(1, 2)
                        .build();
    CHECK(load_be16(&df[14 + 6]) == 0x4000);
    CHECK(load_be16(&df[14 + 4]) == 0xbeef);
}

TEST_CASE("IPv6 extension and fragment headers chain next-header values", "[builder]") {
    const auto f = FrameBuilder()
                       .eth(kMacA, kMacB)
                       .ipv6(kIp6A, kIp6B)
                       .ipv6_extension(0, 16)
                       .ipv6_fragment(3, true, 0xabcdef01)
                       .udp(1, 2)
                       .payload_size(4)
                       .build();
    const uint8_t* ip6 = &f[14];
    CHECK(ip6[6] == 0);  // hop-by-hop first
    const uint8_t* hbh = ip6 + 40;
    CHECK(hbh[0] == kProtoIpv6Fragment);
    CHECK(hbh[1] == 1);  // (16 / 8) - 1
    const uint8_t* frag = hbh + 16;
    CHECK(frag[0] == kProtoUdp);
    CHECK(load_be16(frag + 2) == ((3 << 3) | 1));
    CHECK(load_be32(frag + 4) == 0xabcdef01);
    CHECK(load_be16(ip6 + 4) == 16 + 8 + 8 + 4);
    CHECK(f.size() == 14 + 40 + 16 + 8 + 8 + 4);
}

TEST_CASE("ARP request layout", "[builder]") {
    const auto f = FrameBuilder()
                       .eth(kMacA, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
                       .arp(1, kMacA, kIp4A, {}, kIp4B)
                       .build();
    REQUIRE(f.size() == 14 + 28);
    CHECK(load_be16(&f[12]) == kEtherTypeArp);
    CHECK(load_be16(&f[14]) == 1);
    CHECK(load_be16(&f[16]) == kEtherTypeIpv4);
    CHECK(load_be16(&f[20]) == 1);
    CHECK(std::equal(kIp4B.begin(), kIp4B.end(), f.begin() + 14 + 24));
}

TEST_CASE("ICMP and ICMPv6 checksums verify", "[builder]") {
    const auto v4 = FrameBuilder()
                        .eth(kMacA, kMacB)
                        .ipv4(kIp4A, kIp4B)
                        .icmp(8, 0, 0x00010002)
                        .payload_size(32)
                        .build();
    CHECK(v4[14 + 9] == kProtoIcmp);
    CHECK(checksum_ok(Bytes(&v4[34], v4.size() - 34)));
    const auto v6 =
        FrameBuilder().eth(kMacA, kMacB).ipv6(kIp6A, kIp6B).icmp(128, 0).payload_size(8).build();
    CHECK(v6[14 + 6] == kProtoIcmpv6);
    const Bytes icmp6(&v6[54], v6.size() - 54);
    CHECK(checksum_ok(icmp6, pseudo_header_sum_v6(kIp6A, kIp6B, kProtoIcmpv6,
                                                  static_cast<uint32_t>(icmp6.size()))));
}

TEST_CASE("overrides: ethertype, protocol and break knobs", "[builder]") {
    const auto lldp = FrameBuilder().eth(kMacA, kMacB).ethertype(0x88cc).payload_size(10).build();
    CHECK(load_be16(&lldp[12]) == 0x88cc);
    const auto gre =
        FrameBuilder().eth(kMacA, kMacB).ipv4(kIp4A, kIp4B).ip_protocol(47).payload_size(4).build();
    CHECK(gre[14 + 9] == 47);
    CHECK(checksum_ok(Bytes(&gre[14], 20)));

    const auto broken = FrameBuilder()
                            .eth(kMacA, kMacB)
                            .ipv4(kIp4A, kIp4B)
                            .ip_version(6)
                            .ipv4_ihl(4)
                            .ipv4_total_length(9999)
                            .udp(1, 2)
                            .udp_length(3)
                            .build();
    CHECK(broken[14] == 0x64);
    CHECK(load_be16(&broken[16]) == 9999);
    CHECK(checksum_ok(Bytes(&broken[14], 20)));  // knobs keep the checksum honest
    CHECK(load_be16(&broken[34 + 4]) == 3);

    const auto bad_sum =
        FrameBuilder().eth(kMacA, kMacB).ipv4(kIp4A, kIp4B).corrupt_ip_checksum().udp(1, 2).build();
    CHECK_FALSE(checksum_ok(Bytes(&bad_sum[14], 20)));
    const auto zero =
        FrameBuilder().eth(kMacA, kMacB).ipv4(kIp4A, kIp4B).udp(1, 2).udp_zero_checksum().build();
    CHECK(load_be16(&zero[34 + 6]) == 0);
    const auto doff =
        FrameBuilder().eth(kMacA, kMacB).ipv6(kIp6A, kIp6B).tcp(1, 2).tcp_data_offset(15).build();
    CHECK(doff[54 + 12] >> 4 == 15);
    const auto v6len = FrameBuilder()
                           .eth(kMacA, kMacB)
                           .ipv6(kIp6A, kIp6B)
                           .ipv6_payload_length(1)
                           .udp(1, 2)
                           .build();
    CHECK(load_be16(&v6len[18]) == 1);
}

TEST_CASE("padding is excluded from lengths; truncation cuts the end", "[builder]") {
    const auto padded =
        FrameBuilder().eth(kMacA, kMacB).ipv4(kIp4A, kIp4B).udp(1, 2).pad_to(60).build();
    CHECK(padded.size() == 60);
    CHECK(load_be16(&padded[16]) == 28);
    const auto full =
        FrameBuilder().eth(kMacA, kMacB).ipv4(kIp4A, kIp4B).udp(1, 2).payload_size(9).build();
    const auto cut = FrameBuilder()
                         .eth(kMacA, kMacB)
                         .ipv4(kIp4A, kIp4B)
                         .udp(1, 2)
                         .payload_size(9)
                         .truncate(30)
                         .build();
    REQUIRE(cut.size() == 30);
    CHECK(std::equal(cut.begin(), cut.end(), full.begin()));
}
