// Frame table for the xlane_steer tests. Addresses: 198.18.0.0/15 and
// fd00:198:18::/64 only; .2 is "this host", .1 the remote peer.
#include "steer_cases.h"

#include "packet/frame_builder.h"

namespace xlane::test {
namespace {

using namespace packet;

const MacAddr kPeerMac = {0x02, 0, 0, 0, 0, 0x01};
const MacAddr kHostMac = {0x02, 0, 0, 0, 0, 0x02};
const Ipv4Addr kPeer4 = {198, 18, 0, 1};
const Ipv4Addr kHost4 = {198, 18, 0, 2};
const Ipv4Addr kOther4 = {198, 18, 0, 3};
const Ipv6Addr kPeer6 = *parse_ipv6("fd00:198:18::1");
const Ipv6Addr kHost6 = *parse_ipv6("fd00:198:18::2");
const Ipv6Addr kOther6 = *parse_ipv6("fd00:198:18::3");

// Ports: 70xx UDP binds, 80xx TCP binds, 90xx connected flows.
constexpr uint16_t kUdpExact = 7000, kUdpAny = 7001, kUdpAny4Only = 7002, kUdpAny6Only = 7003;
constexpr uint16_t kTcpExact = 8000, kTcpAny = 8001;
constexpr uint16_t kUdpFlow = 9000, kTcpFlow = 9001, kFlowPeerPort = 5000;
constexpr uint16_t kUnbound = 6000;

FrameBuilder from_peer() {
    return std::move(FrameBuilder().eth(kPeerMac, kHostMac));
}
FrameBuilder v4() {
    return std::move(from_peer().ipv4(kPeer4, kHost4));
}
FrameBuilder v6() {
    return std::move(from_peer().ipv6(kPeer6, kHost6));
}

}  // namespace

SteeringModel steering_tables() {
    SteeringModel m;
    for (uint8_t proto : {kProtoUdp, kProtoTcp}) {
        const uint16_t exact = proto == kProtoUdp ? kUdpExact : kTcpExact;
        const uint16_t any = proto == kProtoUdp ? kUdpAny : kTcpAny;
        m.binds.push_back(bind_key(ipv4_mapped(kHost4), exact, proto));
        m.binds.push_back(bind_key(kHost6, exact, proto));
        // A dual-stack socket bound to :: enters both wildcards.
        m.binds.push_back(bind_key(any4(), any, proto));
        m.binds.push_back(bind_key(any6(), any, proto));
        const uint16_t flow = proto == kProtoUdp ? kUdpFlow : kTcpFlow;
        m.flows.push_back(
            flow_key(ipv4_mapped(kHost4), flow, ipv4_mapped(kPeer4), kFlowPeerPort, proto));
        m.flows.push_back(flow_key(kHost6, flow, kPeer6, kFlowPeerPort, proto));
    }
    m.binds.push_back(bind_key(any4(), kUdpAny4Only, kProtoUdp));
    m.binds.push_back(bind_key(any6(), kUdpAny6Only, kProtoUdp));
    return m;
}

std::vector<SteerCase> hit_cases() {
    const std::vector<uint8_t> router_alert = {0x94, 0x04, 0x00, 0x00};
    return {
        {"v4 udp exact bind", v4().udp(40000, kUdpExact).payload_size(32).build(),
         XLANE_REASON_REDIRECT_BIND},
        {"v4 udp wildcard bind", v4().udp(40000, kUdpAny).payload_size(1).build(),
         XLANE_REASON_REDIRECT_BIND},
        {"v4 tcp exact bind (SYN)", v4().tcp(40000, kTcpExact, tcp_flags::kSyn).build(),
         XLANE_REASON_REDIRECT_BIND},
        {"v4 tcp wildcard bind", v4().tcp(40000, kTcpAny).payload_size(100).build(),
         XLANE_REASON_REDIRECT_BIND},
        {"v6 udp exact bind", v6().udp(40000, kUdpExact).payload_size(32).build(),
         XLANE_REASON_REDIRECT_BIND},
        {"v6 udp wildcard bind", v6().udp(40000, kUdpAny).build(), XLANE_REASON_REDIRECT_BIND},
        {"v6 tcp exact bind", v6().tcp(40000, kTcpExact, tcp_flags::kSyn).build(),
         XLANE_REASON_REDIRECT_BIND},
        {"v6 tcp wildcard bind", v6().tcp(40000, kTcpAny).payload_size(7).build(),
         XLANE_REASON_REDIRECT_BIND},
        {"v4 udp flow", v4().udp(kFlowPeerPort, kUdpFlow).payload_size(64).build(),
         XLANE_REASON_REDIRECT_FLOW},
        {"v4 tcp flow", v4().tcp(kFlowPeerPort, kTcpFlow).payload_size(64).build(),
         XLANE_REASON_REDIRECT_FLOW},
        {"v6 udp flow", v6().udp(kFlowPeerPort, kUdpFlow).build(), XLANE_REASON_REDIRECT_FLOW},
        {"v6 tcp flow", v6().tcp(kFlowPeerPort, kTcpFlow).payload_size(1).build(),
         XLANE_REASON_REDIRECT_FLOW},
        {"v4 udp only-v4 wildcard", v4().udp(40000, kUdpAny4Only).build(),
         XLANE_REASON_REDIRECT_BIND},
        {"v6 udp only-v6 wildcard", v6().udp(40000, kUdpAny6Only).build(),
         XLANE_REASON_REDIRECT_BIND},
        {"802.1Q v4 udp", from_peer().vlan(10).ipv4(kPeer4, kHost4).udp(1, kUdpExact).build(),
         XLANE_REASON_REDIRECT_BIND},
        {"802.1Q v6 tcp flow",
         from_peer().vlan(4094).ipv6(kPeer6, kHost6).tcp(kFlowPeerPort, kTcpFlow).build(),
         XLANE_REASON_REDIRECT_FLOW},
        {"QinQ v4 tcp",
         from_peer()
             .vlan(100, kEtherTypeQinQ)
             .vlan(200)
             .ipv4(kPeer4, kHost4)
             .tcp(1, kTcpAny)
             .build(),
         XLANE_REASON_REDIRECT_BIND},
        {"QinQ (two 802.1Q) v6 udp",
         from_peer().vlan(1).vlan(2).ipv6(kPeer6, kHost6).udp(1, kUdpAny).build(),
         XLANE_REASON_REDIRECT_BIND},
        {"v4 options still match", v4().ipv4_options(router_alert).udp(40000, kUdpExact).build(),
         XLANE_REASON_REDIRECT_BIND},
        {"v4 40 bytes of options, tcp flow",
         v4().ipv4_options(std::vector<uint8_t>(40, 1)).tcp(kFlowPeerPort, kTcpFlow).build(),
         XLANE_REASON_REDIRECT_FLOW},
        {"v4 DF is not a fragment", v4().ipv4_dont_fragment().udp(1, kUdpExact).build(),
         XLANE_REASON_REDIRECT_BIND},
        {"Ethernet padding to 60", v4().udp(1, kUdpExact).pad_to(60).build(),
         XLANE_REASON_REDIRECT_BIND},
        // XDP does not verify checksums: user space does (FrameParser).
        {"bad UDP checksum still steered", v4().udp(1, kUdpExact).corrupt_l4_checksum().build(),
         XLANE_REASON_REDIRECT_BIND},
    };
}

std::vector<SteerCase> steer_cases() {
    std::vector<SteerCase> cases = hit_cases();
    const std::vector<SteerCase> others = {
        // ---- misses
        {"v4 udp unbound port", v4().udp(40000, kUnbound).build(), XLANE_REASON_PASS_NO_MATCH},
        {"v6 tcp unbound port", v6().tcp(40000, kUnbound).build(), XLANE_REASON_PASS_NO_MATCH},
        {"v4 exact bind, other local address",
         from_peer().ipv4(kPeer4, kOther4).udp(1, kUdpExact).build(), XLANE_REASON_PASS_NO_MATCH},
        {"v6 exact bind, other local address",
         from_peer().ipv6(kPeer6, kOther6).tcp(1, kTcpExact).build(), XLANE_REASON_PASS_NO_MATCH},
        {"tcp to a udp bind", v4().tcp(1, kUdpExact).build(), XLANE_REASON_PASS_NO_MATCH},
        {"udp to a tcp bind", v6().udp(1, kTcpAny).build(), XLANE_REASON_PASS_NO_MATCH},
        {"v6 to a v4-only wildcard", v6().udp(1, kUdpAny4Only).build(), XLANE_REASON_PASS_NO_MATCH},
        {"v4 to a v6-only wildcard", v4().udp(1, kUdpAny6Only).build(), XLANE_REASON_PASS_NO_MATCH},
        {"flow port, other remote port", v4().udp(kFlowPeerPort + 1, kUdpFlow).build(),
         XLANE_REASON_PASS_NO_MATCH},
        {"flow port, other remote address",
         from_peer().ipv6(kOther6, kHost6).tcp(kFlowPeerPort, kTcpFlow).build(),
         XLANE_REASON_PASS_NO_MATCH},
        {"flow reversed (local/remote swapped)",
         from_peer().ipv4(kHost4, kPeer4).udp(kUdpFlow, kFlowPeerPort).build(),
         XLANE_REASON_PASS_NO_MATCH},
        // ---- not IP
        {"ARP request", from_peer().arp(1, kPeerMac, kPeer4, {}, kHost4).build(),
         XLANE_REASON_PASS_NOT_IP},
        {"ARP in 802.1Q", from_peer().vlan(5).arp(2, kPeerMac, kPeer4, kHostMac, kHost4).build(),
         XLANE_REASON_PASS_NOT_IP},
        {"LLDP", from_peer().ethertype(0x88cc).payload_size(40).build(), XLANE_REASON_PASS_NOT_IP},
        {"three VLAN tags",
         from_peer()
             .vlan(1, kEtherTypeQinQ)
             .vlan(2)
             .vlan(3)
             .ipv4(kPeer4, kHost4)
             .udp(1, kUdpExact)
             .build(),
         XLANE_REASON_PASS_NOT_IP},
        // ---- not UDP/TCP
        {"ICMP echo", v4().icmp(8, 0, 0x00010001).payload_size(56).build(),
         XLANE_REASON_PASS_NOT_L4},
        {"ICMPv6 echo", v6().icmp(128, 0, 0x00010001).payload_size(56).build(),
         XLANE_REASON_PASS_NOT_L4},
        {"ICMPv6 neighbour solicitation", v6().icmp(135, 0).payload_size(16).build(),
         XLANE_REASON_PASS_NOT_L4},
        {"SCTP", v4().ip_protocol(132).payload_size(12).build(), XLANE_REASON_PASS_NOT_L4},
        {"IPv6 no next header", v6().build(), XLANE_REASON_PASS_NOT_L4},
        // ---- fragments
        {"v4 first fragment (MF) to a bound port",
         v4().ipv4_fragment(0, true).udp(1, kUdpExact).payload_size(64).build(),
         XLANE_REASON_PASS_FRAGMENT},
        {"v4 last fragment (offset)",
         v4().ipv4_fragment(9, false).ip_protocol(kProtoUdp).payload_size(30).build(),
         XLANE_REASON_PASS_FRAGMENT},
        {"v4 middle fragment (MF + offset)",
         v4().ipv4_fragment(9, true).ip_protocol(kProtoTcp).payload_size(72).build(),
         XLANE_REASON_PASS_FRAGMENT},
        {"v6 fragment header to a bound port",
         v6().ipv6_fragment(0, true).udp(1, kUdpExact).payload_size(64).build(),
         XLANE_REASON_PASS_FRAGMENT},
        {"v6 atomic fragment (offset 0, no M)",
         v6().ipv6_fragment(0, false).tcp(1, kTcpExact).build(), XLANE_REASON_PASS_FRAGMENT},
        // ---- IPv6 extension headers
        {"v6 hop-by-hop", v6().ipv6_extension(0).udp(1, kUdpExact).build(),
         XLANE_REASON_PASS_IPV6_EXTHDR},
        {"v6 routing header", v6().ipv6_extension(43, 24).tcp(1, kTcpExact).build(),
         XLANE_REASON_PASS_IPV6_EXTHDR},
        {"v6 destination options", v6().ipv6_extension(60).udp(1, kUdpAny).build(),
         XLANE_REASON_PASS_IPV6_EXTHDR},
        {"v6 AH", v6().ipv6_extension(51, 16).udp(1, kUdpAny).build(),
         XLANE_REASON_PASS_IPV6_EXTHDR},
        // ---- malformed
        {"v4 IHL 4", v4().ipv4_ihl(4).udp(1, kUdpExact).build(), XLANE_REASON_PASS_MALFORMED},
        {"v4 IHL 0", v4().ipv4_ihl(0).udp(1, kUdpExact).build(), XLANE_REASON_PASS_MALFORMED},
        {"v4 IHL 15 beyond total length", v4().ipv4_ihl(15).udp(1, kUdpExact).build(),
         XLANE_REASON_PASS_MALFORMED},
        {"v4 IHL 6 eats the UDP header", v4().ipv4_ihl(6).udp(1, kUdpExact).build(),
         XLANE_REASON_PASS_MALFORMED},
        {"v4 ethertype, version 6", v4().ip_version(6).udp(1, kUdpExact).build(),
         XLANE_REASON_PASS_MALFORMED},
        {"v4 ethertype, version 0", v4().ip_version(0).udp(1, kUdpExact).build(),
         XLANE_REASON_PASS_MALFORMED},
        {"v6 ethertype, version 4", v6().ip_version(4).udp(1, kUdpExact).build(),
         XLANE_REASON_PASS_MALFORMED},
        {"v4 tot_len beyond frame", v4().ipv4_total_length(29).udp(1, kUdpExact).build(),
         XLANE_REASON_PASS_MALFORMED},
        {"v4 tot_len 0", v4().ipv4_total_length(0).udp(1, kUdpExact).build(),
         XLANE_REASON_PASS_MALFORMED},
        {"v4 tot_len below IHL", v4().ipv4_total_length(19).udp(1, kUdpExact).build(),
         XLANE_REASON_PASS_MALFORMED},
        {"v4 tot_len hides the UDP header", v4().ipv4_total_length(24).udp(1, kUdpExact).build(),
         XLANE_REASON_PASS_MALFORMED},
        {"v6 payload length beyond frame", v6().ipv6_payload_length(9).udp(1, kUdpExact).build(),
         XLANE_REASON_PASS_MALFORMED},
        {"UDP length 0", v4().udp(1, kUdpExact).udp_length(0).build(), XLANE_REASON_PASS_MALFORMED},
        {"UDP length beyond IP payload",
         v6().udp(1, kUdpExact).payload_size(4).udp_length(13).build(),
         XLANE_REASON_PASS_MALFORMED},
        {"TCP data offset 4", v4().tcp(1, kTcpExact).tcp_data_offset(4).build(),
         XLANE_REASON_PASS_MALFORMED},
        {"TCP data offset beyond IP payload", v6().tcp(1, kTcpExact).tcp_data_offset(15).build(),
         XLANE_REASON_PASS_MALFORMED},
        {"UDP header cut", v4().ip_protocol(kProtoUdp).payload_size(7).build(),
         XLANE_REASON_PASS_MALFORMED},
        {"empty frame", {}, XLANE_REASON_PASS_MALFORMED},
    };
    cases.insert(cases.end(), others.begin(), others.end());
    return cases;
}

}  // namespace xlane::test
