// Decoding of rtnetlink routes, neighbours, links and addresses from canned
// messages (one captured from the kernel, others built like the kernel's),
// the source-address choice, and the requests the caches send.
#include "net/rtnl_messages.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/net_namespace.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstring>
#include <span>
#include <vector>

#include "net/neighbour_table.h"

using namespace xlane;
using namespace xlane::net;

namespace {

// The kernel's answer (6.18) to RTM_GETROUTE 198.19.5.1 with
// `198.19.5.0/24 via 198.18.0.2 mtu 1300` on ifindex 3 (address 198.18.0.1/24):
// RTA_TABLE 254, RTA_DST, RTA_OIF 3, RTA_PREFSRC, RTA_GATEWAY,
// RTA_METRICS{RTAX_MTU 1300}, RTA_UID, RTA_CACHEINFO.
alignas(4) const std::array<uint8_t, 124> kCapturedRouteAnswer = {
    0x7c, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xcd, 0x37, 0x00, 0x00,
    0x02, 0x20, 0x00, 0x00, 0xfe, 0x00, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x08, 0x00, 0x0f, 0x00,
    0xfe, 0x00, 0x00, 0x00, 0x08, 0x00, 0x01, 0x00, 0xc6, 0x13, 0x05, 0x01, 0x08, 0x00, 0x04, 0x00,
    0x03, 0x00, 0x00, 0x00, 0x08, 0x00, 0x07, 0x00, 0xc6, 0x12, 0x00, 0x01, 0x08, 0x00, 0x05, 0x00,
    0xc6, 0x12, 0x00, 0x02, 0x0c, 0x00, 0x08, 0x00, 0x08, 0x00, 0x02, 0x00, 0x14, 0x05, 0x00, 0x00,
    0x08, 0x00, 0x19, 0x00, 0x00, 0x00, 0x00, 0x00, 0x24, 0x00, 0x0c, 0x00, 0x02, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

IpAddress ip(const char* text) {
    auto parsed = IpAddress::parse(text);
    REQUIRE(parsed.ok());
    return parsed.value();
}

std::vector<uint8_t> address_bytes(const IpAddress& address) {
    const uint8_t* raw = address.raw().bytes;
    return address.is_v4() ? std::vector<uint8_t>(raw + 12, raw + 16)
                           : std::vector<uint8_t>(raw, raw + 16);
}

// A message under construction, laid out as the kernel lays out its own.
// Holds no pointers into itself, so it can be returned by value.
class Canned {
  public:
    Canned(uint16_t type, size_t fixed_header_size) {
        nlmsghdr* msg = mnl_nlmsg_put_header(buffer_.data());
        msg->nlmsg_type = type;
        mnl_nlmsg_put_extra_header(msg, fixed_header_size);
    }
    template <typename Header>
    Header& header() {
        return *static_cast<Header*>(mnl_nlmsg_get_payload(&msg()));
    }
    Canned& address(uint16_t type, const IpAddress& address) {
        const auto bytes = address_bytes(address);
        mnl_attr_put(&msg(), type, bytes.size(), bytes.data());
        return *this;
    }
    Canned& bytes(uint16_t type, std::vector<uint8_t> data) {
        mnl_attr_put(&msg(), type, data.size(), data.data());
        return *this;
    }
    Canned& u32(uint16_t type, uint32_t value) {
        mnl_attr_put_u32(&msg(), type, value);
        return *this;
    }
    nlmsghdr& msg() { return *reinterpret_cast<nlmsghdr*>(buffer_.data()); }

  private:
    alignas(4) std::array<uint8_t, 512> buffer_{};
};

Canned neighbour(uint8_t family, int ifindex, uint16_t state) {
    Canned canned(RTM_NEWNEIGH, sizeof(ndmsg));
    canned.header<ndmsg>().ndm_family = family;
    canned.header<ndmsg>().ndm_ifindex = ifindex;
    canned.header<ndmsg>().ndm_state = state;
    return canned;
}

AddressEntry address_entry(uint32_t ifindex, const char* text, uint8_t scope, uint32_t flags) {
    AddressEntry entry;
    entry.ifindex = ifindex;
    entry.address = ip(text);
    entry.family = entry.address.is_v4() ? AF_INET : AF_INET6;
    entry.scope = scope;
    entry.flags = flags;
    return entry;
}

}  // namespace

TEST_CASE("a route answer captured from the kernel decodes completely") {
    const auto& msg = *reinterpret_cast<const nlmsghdr*>(kCapturedRouteAnswer.data());
    auto route = decode_route(msg);
    INFO((route ? "" : route.error().describe()));
    REQUIRE(route.ok());
    CHECK(route->family == AF_INET);
    CHECK(route->type == RTN_UNICAST);
    CHECK(route->table == RT_TABLE_MAIN);
    CHECK(route->oif == 3);
    REQUIRE(route->gateway.has_value());
    CHECK(*route->gateway == ip("198.18.0.2"));
    REQUIRE(route->preferred_source.has_value());
    CHECK(*route->preferred_source == ip("198.18.0.1"));
    CHECK(route->mtu == 1300);
}

TEST_CASE("a route message cut short is refused, not half-read") {
    alignas(4) auto bytes = kCapturedRouteAnswer;
    auto& msg = *reinterpret_cast<nlmsghdr*>(bytes.data());
    SECTION("inside the last attribute") {
        msg.nlmsg_len -= 8;  // RTA_CACHEINFO now claims more than is there
        auto route = decode_route(msg);
        REQUIRE_FALSE(route.ok());
        CHECK(route.error().errnum == EPROTO);
    }
    SECTION("inside the fixed header") {
        msg.nlmsg_len = NLMSG_HDRLEN + 4;
        CHECK_FALSE(decode_route(msg).ok());
    }
}

TEST_CASE("route gateways: none when on-link, RTA_VIA of the other family, wrong sizes refused") {
    Canned on_link(RTM_NEWROUTE, sizeof(rtmsg));
    on_link.header<rtmsg>().rtm_family = AF_INET6;
    on_link.header<rtmsg>().rtm_type = RTN_UNICAST;
    on_link.address(RTA_DST, ip("fd00:198:18::2")).u32(RTA_OIF, 7);
    auto direct = decode_route(on_link.msg());
    REQUIRE(direct.ok());
    CHECK_FALSE(direct->gateway.has_value());
    CHECK_FALSE(direct->preferred_source.has_value());
    CHECK(direct->oif == 7);
    CHECK(direct->mtu == 0);

    // RFC 5549: an IPv4 route through an IPv6 next hop.
    Canned via(RTM_NEWROUTE, sizeof(rtmsg));
    via.header<rtmsg>().rtm_family = AF_INET;
    std::vector<uint8_t> rtvia_bytes(sizeof(rtvia) + 16);
    reinterpret_cast<rtvia*>(rtvia_bytes.data())->rtvia_family = AF_INET6;
    const auto gw6 = address_bytes(ip("fd00:198:18::2"));
    std::memcpy(rtvia_bytes.data() + sizeof(rtvia), gw6.data(), 16);
    via.bytes(RTA_VIA, rtvia_bytes).u32(RTA_OIF, 2);
    auto through_v6 = decode_route(via.msg());
    REQUIRE(through_v6.ok());
    REQUIRE(through_v6->gateway.has_value());
    CHECK(*through_v6->gateway == ip("fd00:198:18::2"));

    Canned wrong(RTM_NEWROUTE, sizeof(rtmsg));
    wrong.header<rtmsg>().rtm_family = AF_INET6;
    wrong.address(RTA_GATEWAY, ip("198.18.0.2"));  // 4 bytes in an IPv6 route
    CHECK_FALSE(decode_route(wrong.msg()).ok());

    Canned other_family(RTM_NEWROUTE, sizeof(rtmsg));
    other_family.header<rtmsg>().rtm_family = AF_BRIDGE;
    CHECK(decode_route(other_family.msg()).error().errnum == EAFNOSUPPORT);
}

TEST_CASE("neighbours decode with their state and, when Ethernet, their MAC") {
    auto reachable = neighbour(AF_INET, 4, NUD_REACHABLE);
    reachable.address(NDA_DST, ip("198.18.0.2")).bytes(NDA_LLADDR, {0x02, 0, 0x5e, 0, 0x53, 1});
    auto entry = decode_neighbour(reachable.msg());
    REQUIRE(entry.ok());
    CHECK(entry->ifindex == 4);
    CHECK(entry->address == ip("198.18.0.2"));
    CHECK(entry->state == NUD_REACHABLE);
    REQUIRE(entry->mac.has_value());
    CHECK(*entry->mac == packet::MacAddr{0x02, 0, 0x5e, 0, 0x53, 1});
    CHECK((entry->state & kNeighbourUsableStates) != 0);

    auto incomplete = neighbour(AF_INET6, 4, NUD_INCOMPLETE);
    incomplete.address(NDA_DST, ip("fd00:198:18::2"));
    auto pending = decode_neighbour(incomplete.msg());
    REQUIRE(pending.ok());
    CHECK(pending->address == ip("fd00:198:18::2"));
    CHECK_FALSE(pending->mac.has_value());
    CHECK((pending->state & kNeighbourUsableStates) == 0);

    // A 20-byte (InfiniBand) link-layer address is not a MAC for AF_XDP.
    auto infiniband = neighbour(AF_INET, 4, NUD_REACHABLE);
    infiniband.address(NDA_DST, ip("198.18.0.3")).bytes(NDA_LLADDR, std::vector<uint8_t>(20, 1));
    auto ib = decode_neighbour(infiniband.msg());
    REQUIRE(ib.ok());
    CHECK_FALSE(ib->mac.has_value());

    auto no_address = neighbour(AF_INET, 4, NUD_REACHABLE);
    CHECK_FALSE(decode_neighbour(no_address.msg()).ok());
    auto no_interface = neighbour(AF_INET, 0, NUD_REACHABLE);
    no_interface.address(NDA_DST, ip("198.18.0.2"));
    CHECK_FALSE(decode_neighbour(no_interface.msg()).ok());
}

TEST_CASE("links decode their index, name and MTU") {
    Canned link(RTM_NEWLINK, sizeof(ifinfomsg));
    link.header<ifinfomsg>().ifi_index = 9;
    mnl_attr_put_strz(&link.msg(), IFLA_IFNAME, "xa1234");
    link.u32(IFLA_MTU, 1400);
    auto entry = decode_link(link.msg());
    REQUIRE(entry.ok());
    CHECK(entry->ifindex == 9);
    CHECK(entry->name == "xa1234");
    CHECK(entry->mtu == 1400);
}

TEST_CASE("a veth link decodes its kind, peer, peer namespace, root qdisc and queues") {
    Canned veth(RTM_NEWLINK, sizeof(ifinfomsg));
    veth.header<ifinfomsg>().ifi_index = 2;
    mnl_attr_put_strz(&veth.msg(), IFLA_IFNAME, "xb1234");
    mnl_attr_put_strz(&veth.msg(), IFLA_QDISC, "noqueue");
    veth.u32(IFLA_NUM_TX_QUEUES, 2).u32(IFLA_LINK, 7).u32(IFLA_LINK_NETNSID, 3);
    nlattr* info = mnl_attr_nest_start(&veth.msg(), IFLA_LINKINFO);
    mnl_attr_put_strz(&veth.msg(), IFLA_INFO_KIND, "veth");
    mnl_attr_nest_end(&veth.msg(), info);
    auto entry = decode_link(veth.msg());
    REQUIRE(entry.ok());
    CHECK(entry->kind == "veth");
    CHECK(entry->link == 7);
    CHECK(entry->link_netnsid == 3);
    CHECK(entry->qdisc == "noqueue");
    CHECK(entry->tx_queues == 2);

    // A link with none of them (lo) decodes with none; a kind that is not a
    // NUL-terminated string is refused.
    Canned plain(RTM_NEWLINK, sizeof(ifinfomsg));
    plain.header<ifinfomsg>().ifi_index = 1;
    auto lo = decode_link(plain.msg());
    REQUIRE(lo.ok());
    CHECK(lo->kind.empty());
    CHECK_FALSE(lo->link_netnsid.has_value());
    Canned bad(RTM_NEWLINK, sizeof(ifinfomsg));
    bad.header<ifinfomsg>().ifi_index = 1;
    nlattr* bad_info = mnl_attr_nest_start(&bad.msg(), IFLA_LINKINFO);
    bad.bytes(IFLA_INFO_KIND, {'v', 'e'});
    mnl_attr_nest_end(&bad.msg(), bad_info);
    CHECK_FALSE(decode_link(bad.msg()).ok());
}

TEST_CASE("addresses: IFA_LOCAL is ours (IFA_ADDRESS may be the peer), IFA_FLAGS extends") {
    Canned point_to_point(RTM_NEWADDR, sizeof(ifaddrmsg));
    point_to_point.header<ifaddrmsg>().ifa_family = AF_INET;
    point_to_point.header<ifaddrmsg>().ifa_index = 5;
    point_to_point.header<ifaddrmsg>().ifa_prefixlen = 32;
    point_to_point.address(IFA_ADDRESS, ip("198.18.0.9")).address(IFA_LOCAL, ip("198.18.0.1"));
    point_to_point.u32(IFA_FLAGS, IFA_F_NOPREFIXROUTE);
    auto entry = decode_address(point_to_point.msg());
    REQUIRE(entry.ok());
    CHECK(entry->address == ip("198.18.0.1"));
    CHECK(entry->ifindex == 5);
    CHECK(entry->flags == IFA_F_NOPREFIXROUTE);

    Canned v6(RTM_NEWADDR, sizeof(ifaddrmsg));
    v6.header<ifaddrmsg>().ifa_family = AF_INET6;
    v6.address(IFA_ADDRESS, ip("fd00:198:18::1"));
    auto only_address = decode_address(v6.msg());
    REQUIRE(only_address.ok());
    CHECK(only_address->address == ip("fd00:198:18::1"));

    Canned empty(RTM_NEWADDR, sizeof(ifaddrmsg));
    empty.header<ifaddrmsg>().ifa_family = AF_INET;
    CHECK_FALSE(decode_address(empty.msg()).ok());
}

TEST_CASE("the source for a route without one is the interface's primary usable address") {
    const std::vector<AddressEntry> addresses = {
        address_entry(3, "198.18.0.7", RT_SCOPE_UNIVERSE, IFA_F_SECONDARY),
        address_entry(3, "198.18.1.1", RT_SCOPE_LINK, 0),
        address_entry(3, "198.18.0.1", RT_SCOPE_UNIVERSE, 0),
        address_entry(4, "198.18.2.1", RT_SCOPE_UNIVERSE, 0),
        address_entry(3, "fe80::1", RT_SCOPE_LINK, IFA_F_PERMANENT),
        address_entry(3, "fd00:198:18::9", RT_SCOPE_UNIVERSE, IFA_F_TENTATIVE),
        address_entry(3, "fd00:198:18::1", RT_SCOPE_UNIVERSE, IFA_F_PERMANENT),
    };
    CHECK(primary_address(addresses, 3, true) == ip("198.18.0.1"));
    CHECK(primary_address(addresses, 4, true) == ip("198.18.2.1"));
    CHECK(primary_address(addresses, 3, false) == ip("fd00:198:18::1"));
    CHECK_FALSE(primary_address(addresses, 4, false).has_value());
    // Only a link-scope address left: it is still better than none.
    const std::vector<AddressEntry> link_only = {address_entry(3, "fe80::1", RT_SCOPE_LINK, 0)};
    CHECK(primary_address(link_only, 3, false) == ip("fe80::1"));
}

TEST_CASE("requests: route lookup, neighbour resolution, link query, dumps") {
    alignas(4) uint8_t buffer[kRequestBufferSize];

    nlmsghdr* get6 = encode_route_get(buffer, ip("fd00:198:18::2"));
    CHECK(get6->nlmsg_type == RTM_GETROUTE);
    CHECK(get6->nlmsg_flags == (NLM_F_REQUEST | NLM_F_ACK));
    const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(get6));
    CHECK(rtm->rtm_family == AF_INET6);
    CHECK(rtm->rtm_dst_len == 128);
    // The request reads back as a route to the same destination.
    const auto* dst = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(get6, sizeof(rtmsg)));
    CHECK(mnl_attr_get_type(dst) == RTA_DST);
    REQUIRE(mnl_attr_get_payload_len(dst) == 16);
    CHECK(std::memcmp(mnl_attr_get_payload(dst), ip("fd00:198:18::2").raw().bytes, 16) == 0);

    nlmsghdr* get4 = encode_route_get(buffer, ip("198.18.0.2"));
    rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(get4));
    CHECK(rtm->rtm_family == AF_INET);
    CHECK(rtm->rtm_dst_len == 32);

    nlmsghdr* use = encode_neighbour_resolve(buffer, 6, ip("198.18.0.2"));
    CHECK(use->nlmsg_type == RTM_NEWNEIGH);
    CHECK(use->nlmsg_flags == (NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK));
    // Decoding our own request gives back what we asked for.
    auto asked = decode_neighbour(*use);
    REQUIRE(asked.ok());
    CHECK(asked->ifindex == 6);
    CHECK(asked->address == ip("198.18.0.2"));
    CHECK(asked->flags == NTF_USE);
    CHECK(asked->state == NUD_NONE);

    nlmsghdr* link = encode_link_get(buffer, 11);
    CHECK(link->nlmsg_type == RTM_GETLINK);
    CHECK(static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(link))->ifi_index == 11);

    nlmsghdr* nsid = encode_netns_id_get(buffer, 5);
    CHECK(nsid->nlmsg_type == RTM_GETNSID);
    const auto* fd_attr =
        static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nsid, sizeof(rtgenmsg)));
    CHECK(mnl_attr_get_type(fd_attr) == NETNSA_FD);
    CHECK(mnl_attr_get_u32(fd_attr) == 5);

    // `tc qdisc add dev 4 root handle 7861: mq`: never replaces (NLM_F_EXCL).
    nlmsghdr* add = encode_root_qdisc_add(buffer, 4, 0x78610000, "mq");
    CHECK(add->nlmsg_type == RTM_NEWQDISC);
    CHECK(add->nlmsg_flags == (NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK));
    const auto* tcm = static_cast<const tcmsg*>(mnl_nlmsg_get_payload(add));
    CHECK(tcm->tcm_ifindex == 4);
    CHECK(tcm->tcm_parent == TC_H_ROOT);
    CHECK(tcm->tcm_handle == 0x78610000);
    const auto* kind = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(add, sizeof(tcmsg)));
    CHECK(mnl_attr_get_type(kind) == TCA_KIND);
    CHECK(std::string(mnl_attr_get_str(kind)) == "mq");
    nlmsghdr* del = encode_root_qdisc_delete(buffer, 4, 0x78610000);
    CHECK(del->nlmsg_type == RTM_DELQDISC);
    CHECK(static_cast<const tcmsg*>(mnl_nlmsg_get_payload(del))->tcm_handle == 0x78610000);

    nlmsghdr* dump = encode_dump(buffer, RTM_GETADDR, AF_INET6);
    CHECK(dump->nlmsg_flags == (NLM_F_REQUEST | NLM_F_DUMP));
    CHECK(dump->nlmsg_len == NLMSG_LENGTH(sizeof(ifaddrmsg)));
    CHECK(static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(dump))->ifa_family == AF_INET6);
}

TEST_CASE("netns id answers: the id, or -1 when none is assigned") {
    Canned answer(RTM_NEWNSID, sizeof(rtgenmsg));
    answer.u32(NETNSA_NSID, 3);
    auto id = decode_netns_id(answer.msg());
    REQUIRE(id.ok());
    CHECK(id.value() == 3);
    Canned none(RTM_NEWNSID, sizeof(rtgenmsg));
    none.u32(NETNSA_NSID, static_cast<uint32_t>(NETNSA_NSID_NOT_ASSIGNED));
    CHECK(decode_netns_id(none.msg()).value() == -1);
    Canned cut(RTM_NEWNSID, sizeof(rtgenmsg));
    cut.bytes(NETNSA_NSID, {1, 0});
    CHECK_FALSE(decode_netns_id(cut.msg()).ok());
}

TEST_CASE("neighbour states are named as `ip neigh` names them") {
    CHECK(std::string(neighbour_state_name(NUD_REACHABLE)) == "reachable");
    CHECK(std::string(neighbour_state_name(NUD_FAILED)) == "failed");
    CHECK(std::string(neighbour_state_name(NUD_INCOMPLETE)) == "incomplete");
    CHECK(std::string(neighbour_state_name(NUD_NONE)) == "none");
}

TEST_CASE("next_message walks whole messages and stops at a cut or oversized one") {
    alignas(4) std::array<uint8_t, 64> buffer{};
    auto put = [&](size_t offset, uint32_t length, uint16_t type) {
        nlmsghdr header{};
        header.nlmsg_len = length;
        header.nlmsg_type = type;
        std::memcpy(buffer.data() + offset, &header, sizeof(header));
    };
    put(0, 20, RTM_NEWLINK);   // 20 bytes, aligned to 20
    put(20, 17, RTM_NEWADDR);  // 17 bytes, the next one starts at 20 + 20
    put(40, 16, NLMSG_DONE);
    std::span<const uint8_t> rest(buffer.data(), 56);
    const nlmsghdr* first = next_message(rest);
    REQUIRE(first != nullptr);
    CHECK(first->nlmsg_type == RTM_NEWLINK);
    const nlmsghdr* second = next_message(rest);
    REQUIRE(second != nullptr);
    CHECK(second->nlmsg_type == RTM_NEWADDR);
    const nlmsghdr* third = next_message(rest);
    REQUIRE(third != nullptr);
    CHECK(third->nlmsg_type == NLMSG_DONE);
    CHECK(next_message(rest) == nullptr);  // 0 bytes left

    // A length of 2^31 or more: libmnl 1.0.4's mnl_nlmsg_ok() takes it as a
    // negative int and accepts it; next_message() must not.
    put(0, 0x80000010u, RTM_NEWROUTE);
    std::span<const uint8_t> huge(buffer.data(), buffer.size());
    CHECK(next_message(huge) == nullptr);
    CHECK(huge.empty());
    put(0, 65, RTM_NEWROUTE);  // one byte beyond the datagram
    std::span<const uint8_t> beyond(buffer.data(), buffer.size());
    CHECK(next_message(beyond) == nullptr);
    put(0, 8, RTM_NEWROUTE);  // shorter than its own header
    std::span<const uint8_t> tiny(buffer.data(), buffer.size());
    CHECK(next_message(tiny) == nullptr);
}
