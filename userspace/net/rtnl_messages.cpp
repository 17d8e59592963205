#include "net/rtnl_messages.h"

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/net_namespace.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace xlane::net {

namespace {

// An address attribute of `family` (4 or 16 bytes) as an IpAddress.
std::optional<IpAddress> address_attribute(const nlattr* attr, uint8_t family) {
    const uint16_t len = mnl_attr_get_payload_len(attr);
    const void* payload = mnl_attr_get_payload(attr);
    if (family == AF_INET && len == 4) {
        in_addr v4{};
        std::memcpy(&v4, payload, 4);
        return IpAddress::from_v4(v4);
    }
    if (family == AF_INET6 && len == 16) {
        in6_addr v6{};
        std::memcpy(&v6, payload, 16);
        return IpAddress::from_v6(v6);
    }
    return std::nullopt;
}

Error malformed(const char* what) {
    return make_error(EPROTO, std::string("malformed rtnetlink ") + what + " message");
}

// The payload's fixed header, when the message is long enough to carry it.
template <typename Header>
const Header* fixed_header(const nlmsghdr& msg) {
    if (msg.nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(Header)) return nullptr;
    return static_cast<const Header*>(mnl_nlmsg_get_payload(&msg));
}

// Walks the attributes after the fixed header; false when one is cut short.
template <typename Visit>
bool for_each_attribute(const nlmsghdr& msg, size_t header_size, Visit&& visit) {
    const size_t offset = MNL_ALIGN(header_size);
    auto* attr = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(&msg, offset));
    const auto* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(&msg));
    int remaining = static_cast<int>(tail - reinterpret_cast<const char*>(attr));
    while (remaining > 0) {
        if (!mnl_attr_ok(attr, remaining)) return false;
        if (!visit(attr)) return false;
        remaining -= static_cast<int>(MNL_ALIGN(attr->nla_len));
        attr = mnl_attr_next(attr);
    }
    return true;
}

bool u32_attribute(const nlattr* attr, uint32_t& out) {
    if (mnl_attr_get_payload_len(attr) < sizeof(uint32_t)) return false;
    out = mnl_attr_get_u32(attr);
    return true;
}

bool decode_metrics(const nlattr* metrics, uint32_t& mtu) {
    auto* attr = static_cast<const nlattr*>(mnl_attr_get_payload(metrics));
    int remaining = mnl_attr_get_payload_len(metrics);
    while (remaining > 0) {
        if (!mnl_attr_ok(attr, remaining)) return false;
        if (mnl_attr_get_type(attr) == RTAX_MTU && !u32_attribute(attr, mtu)) return false;
        remaining -= static_cast<int>(MNL_ALIGN(attr->nla_len));
        attr = mnl_attr_next(attr);
    }
    return true;
}

bool string_attribute(const nlattr* attr, std::string& out) {
    if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) != 0) return false;
    out = mnl_attr_get_str(attr);
    return true;
}

// IFLA_LINKINFO's IFLA_INFO_KIND; the rest of the nest (driver data) is skipped.
bool decode_link_kind(const nlattr* linkinfo, std::string& kind) {
    auto* attr = static_cast<const nlattr*>(mnl_attr_get_payload(linkinfo));
    int remaining = mnl_attr_get_payload_len(linkinfo);
    while (remaining > 0) {
        if (!mnl_attr_ok(attr, remaining)) return false;
        if (mnl_attr_get_type(attr) == IFLA_INFO_KIND && !string_attribute(attr, kind))
            return false;
        remaining -= static_cast<int>(MNL_ALIGN(attr->nla_len));
        attr = mnl_attr_next(attr);
    }
    return true;
}

// RTA_VIA: a gateway of another family (an IPv4 route through an IPv6 next hop).
std::optional<IpAddress> via_attribute(const nlattr* attr) {
    const uint16_t len = mnl_attr_get_payload_len(attr);
    if (len < sizeof(rtvia)) return std::nullopt;
    const auto* via = static_cast<const rtvia*>(mnl_attr_get_payload(attr));
    const size_t addr_len = len - sizeof(rtvia);
    if (via->rtvia_family == AF_INET && addr_len == 4) {
        in_addr v4{};
        std::memcpy(&v4, via->rtvia_addr, 4);
        return IpAddress::from_v4(v4);
    }
    if (via->rtvia_family == AF_INET6 && addr_len == 16) {
        in6_addr v6{};
        std::memcpy(&v6, via->rtvia_addr, 16);
        return IpAddress::from_v6(v6);
    }
    return std::nullopt;
}

nlmsghdr* start_request(uint8_t* buffer, uint16_t type, uint16_t flags) {
    std::memset(buffer, 0, kRequestBufferSize);
    nlmsghdr* msg = mnl_nlmsg_put_header(buffer);
    msg->nlmsg_type = type;
    msg->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
    return msg;
}

void put_address(nlmsghdr* msg, uint16_t type, const IpAddress& address) {
    if (address.is_v4())
        mnl_attr_put(msg, type, 4, &address.raw().bytes[12]);
    else
        mnl_attr_put(msg, type, 16, address.raw().bytes);
}

}  // namespace

const nlmsghdr* next_message(std::span<const uint8_t>& rest) {
    if (rest.size() < sizeof(nlmsghdr)) return nullptr;
    const auto* msg = reinterpret_cast<const nlmsghdr*>(rest.data());
    const size_t length = msg->nlmsg_len;
    if (length < sizeof(nlmsghdr) || length > rest.size()) {
        rest = {};  // a cut or corrupt message: nothing after it can be trusted
        return nullptr;
    }
    rest = rest.subspan(std::min<size_t>(rest.size(), NLMSG_ALIGN(length)));
    return msg;
}

Result<RouteAnswer> decode_route(const nlmsghdr& msg) {
    const auto* rtm = fixed_header<rtmsg>(msg);
    if (rtm == nullptr) return malformed("route");
    RouteAnswer route;
    route.family = rtm->rtm_family;
    route.type = rtm->rtm_type;
    route.table = rtm->rtm_table;
    if (route.family != AF_INET && route.family != AF_INET6)
        return make_error(EAFNOSUPPORT, "rtnetlink route of an unexpected family " +
                                            std::to_string(route.family));
    const bool ok = for_each_attribute(msg, sizeof(rtmsg), [&](const nlattr* attr) {
        switch (mnl_attr_get_type(attr)) {
            case RTA_OIF:
                return u32_attribute(attr, route.oif);
            case RTA_TABLE:
                return u32_attribute(attr, route.table);
            case RTA_GATEWAY:
                route.gateway = address_attribute(attr, route.family);
                return route.gateway.has_value();
            case RTA_VIA:
                route.gateway = via_attribute(attr);
                return route.gateway.has_value();
            case RTA_PREFSRC:
                route.preferred_source = address_attribute(attr, route.family);
                return route.preferred_source.has_value();
            case RTA_METRICS:
                return decode_metrics(attr, route.mtu);
            default:
                return true;
        }
    });
    if (!ok) return malformed("route");
    return route;
}

Result<NeighbourEntry> decode_neighbour(const nlmsghdr& msg) {
    const auto* ndm = fixed_header<ndmsg>(msg);
    if (ndm == nullptr || ndm->ndm_ifindex <= 0) return malformed("neighbour");
    NeighbourEntry entry;
    entry.ifindex = static_cast<uint32_t>(ndm->ndm_ifindex);
    entry.state = ndm->ndm_state;
    entry.flags = ndm->ndm_flags;
    bool have_address = false;
    const bool ok = for_each_attribute(msg, sizeof(ndmsg), [&](const nlattr* attr) {
        switch (mnl_attr_get_type(attr)) {
            case NDA_DST: {
                auto address = address_attribute(attr, ndm->ndm_family);
                if (!address) return false;
                entry.address = *address;
                have_address = true;
                return true;
            }
            case NDA_LLADDR:
                // Non-Ethernet devices have other lengths; they are not for AF_XDP.
                if (mnl_attr_get_payload_len(attr) == 6) {
                    packet::MacAddr mac{};
                    std::memcpy(mac.data(), mnl_attr_get_payload(attr), 6);
                    entry.mac = mac;
                }
                return true;
            default:
                return true;
        }
    });
    if (!ok || !have_address) return malformed("neighbour");
    return entry;
}

Result<LinkEntry> decode_link(const nlmsghdr& msg) {
    const auto* ifi = fixed_header<ifinfomsg>(msg);
    if (ifi == nullptr || ifi->ifi_index <= 0) return malformed("link");
    LinkEntry link;
    link.ifindex = static_cast<uint32_t>(ifi->ifi_index);
    const bool ok = for_each_attribute(msg, sizeof(ifinfomsg), [&](const nlattr* attr) {
        switch (mnl_attr_get_type(attr)) {
            case IFLA_MTU:
                return u32_attribute(attr, link.mtu);
            case IFLA_IFNAME:
                return string_attribute(attr, link.name);
            case IFLA_QDISC:
                return string_attribute(attr, link.qdisc);
            case IFLA_LINK:
                return u32_attribute(attr, link.link);
            case IFLA_NUM_TX_QUEUES:
                return u32_attribute(attr, link.tx_queues);
            case IFLA_LINK_NETNSID: {
                uint32_t id = 0;
                if (!u32_attribute(attr, id)) return false;
                link.link_netnsid = static_cast<int32_t>(id);
                return true;
            }
            case IFLA_LINKINFO:
                return decode_link_kind(attr, link.kind);
            default:
                return true;
        }
    });
    if (!ok) return malformed("link");
    return link;
}

Result<AddressEntry> decode_address(const nlmsghdr& msg) {
    const auto* ifa = fixed_header<ifaddrmsg>(msg);
    if (ifa == nullptr) return malformed("address");
    AddressEntry entry;
    entry.ifindex = ifa->ifa_index;
    entry.family = ifa->ifa_family;
    entry.prefix_len = ifa->ifa_prefixlen;
    entry.scope = ifa->ifa_scope;
    entry.flags = ifa->ifa_flags;
    std::optional<IpAddress> local;
    std::optional<IpAddress> address;
    const bool ok = for_each_attribute(msg, sizeof(ifaddrmsg), [&](const nlattr* attr) {
        switch (mnl_attr_get_type(attr)) {
            case IFA_LOCAL:
                local = address_attribute(attr, entry.family);
                return local.has_value();
            case IFA_ADDRESS:
                address = address_attribute(attr, entry.family);
                return address.has_value();
            case IFA_FLAGS:
                return u32_attribute(attr, entry.flags);
            default:
                return true;
        }
    });
    if (!ok || (!local && !address)) return malformed("address");
    entry.address = local ? *local : *address;
    return entry;
}

std::optional<IpAddress> primary_address(std::span<const AddressEntry> addresses, uint32_t ifindex,
                                         bool ipv4) {
    constexpr uint32_t kUnusable =
        IFA_F_SECONDARY | IFA_F_TENTATIVE | IFA_F_DADFAILED | IFA_F_DEPRECATED;
    const AddressEntry* best = nullptr;
    for (const AddressEntry& entry : addresses) {
        if (entry.ifindex != ifindex || entry.family != (ipv4 ? AF_INET : AF_INET6)) continue;
        if (entry.flags & kUnusable) continue;
        // RT_SCOPE_UNIVERSE (0) < SITE < LINK < HOST: smaller is wider.
        if (best == nullptr || entry.scope < best->scope) best = &entry;
    }
    if (best == nullptr) return std::nullopt;
    return best->address;
}

nlmsghdr* encode_route_get(uint8_t* buffer, const IpAddress& destination) {
    nlmsghdr* msg = start_request(buffer, RTM_GETROUTE, NLM_F_ACK);
    auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(msg, sizeof(rtmsg)));
    rtm->rtm_family = destination.is_v4() ? AF_INET : AF_INET6;
    rtm->rtm_dst_len = destination.is_v4() ? 32 : 128;
    put_address(msg, RTA_DST, destination);
    return msg;
}

nlmsghdr* encode_neighbour_resolve(uint8_t* buffer, uint32_t ifindex, const IpAddress& address) {
    nlmsghdr* msg = start_request(buffer, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_ACK);
    auto* ndm = static_cast<ndmsg*>(mnl_nlmsg_put_extra_header(msg, sizeof(ndmsg)));
    ndm->ndm_family = address.is_v4() ? AF_INET : AF_INET6;
    ndm->ndm_ifindex = static_cast<int>(ifindex);
    ndm->ndm_state = NUD_NONE;
    ndm->ndm_flags = NTF_USE;
    put_address(msg, NDA_DST, address);
    return msg;
}

nlmsghdr* encode_link_get(uint8_t* buffer, uint32_t ifindex) {
    nlmsghdr* msg = start_request(buffer, RTM_GETLINK, NLM_F_ACK);
    auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(msg, sizeof(ifinfomsg)));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = static_cast<int>(ifindex);
    return msg;
}

nlmsghdr* encode_netns_id_get(uint8_t* buffer, int netns_fd) {
    nlmsghdr* msg = start_request(buffer, RTM_GETNSID, NLM_F_ACK);
    auto* gen = static_cast<rtgenmsg*>(mnl_nlmsg_put_extra_header(msg, sizeof(rtgenmsg)));
    gen->rtgen_family = AF_UNSPEC;
    mnl_attr_put_u32(msg, NETNSA_FD, static_cast<uint32_t>(netns_fd));
    return msg;
}

Result<int32_t> decode_netns_id(const nlmsghdr& msg) {
    if (fixed_header<rtgenmsg>(msg) == nullptr) return malformed("netns id");
    int32_t id = NETNSA_NSID_NOT_ASSIGNED;
    const bool ok = for_each_attribute(msg, sizeof(rtgenmsg), [&](const nlattr* attr) {
        if (mnl_attr_get_type(attr) != NETNSA_NSID) return true;
        uint32_t raw = 0;
        if (!u32_attribute(attr, raw)) return false;
        id = static_cast<int32_t>(raw);
        return true;
    });
    if (!ok) return malformed("netns id");
    return id;
}

nlmsghdr* encode_root_qdisc_add(uint8_t* buffer, uint32_t ifindex, uint32_t handle,
                                const char* kind) {
    nlmsghdr* msg = start_request(buffer, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK);
    auto* tcm = static_cast<tcmsg*>(mnl_nlmsg_put_extra_header(msg, sizeof(tcmsg)));
    tcm->tcm_family = AF_UNSPEC;
    tcm->tcm_ifindex = static_cast<int>(ifindex);
    tcm->tcm_parent = TC_H_ROOT;
    tcm->tcm_handle = handle;
    mnl_attr_put_strz(msg, TCA_KIND, kind);
    return msg;
}

nlmsghdr* encode_root_qdisc_delete(uint8_t* buffer, uint32_t ifindex, uint32_t handle) {
    nlmsghdr* msg = start_request(buffer, RTM_DELQDISC, NLM_F_ACK);
    auto* tcm = static_cast<tcmsg*>(mnl_nlmsg_put_extra_header(msg, sizeof(tcmsg)));
    tcm->tcm_family = AF_UNSPEC;
    tcm->tcm_ifindex = static_cast<int>(ifindex);
    tcm->tcm_parent = TC_H_ROOT;
    tcm->tcm_handle = handle;
    return msg;
}

nlmsghdr* encode_dump(uint8_t* buffer, uint16_t type, uint8_t family) {
    nlmsghdr* msg = start_request(buffer, type, NLM_F_DUMP);
    // Each dump takes its own family header; the family is its first byte.
    size_t header_size = sizeof(rtgenmsg);
    if (type == RTM_GETNEIGH) header_size = sizeof(ndmsg);
    if (type == RTM_GETADDR) header_size = sizeof(ifaddrmsg);
    if (type == RTM_GETLINK) header_size = sizeof(ifinfomsg);
    if (type == RTM_GETROUTE) header_size = sizeof(rtmsg);
    auto* family_byte = static_cast<uint8_t*>(mnl_nlmsg_put_extra_header(msg, header_size));
    *family_byte = family;
    return msg;
}

}  // namespace xlane::net
