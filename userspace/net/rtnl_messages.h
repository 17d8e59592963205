// Decoding and encoding of the rtnetlink messages the route and neighbour
// caches use (routes, neighbours, links, addresses), with no sockets: testable on canned bytes.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "common/result.h"
#include "packet/wire.h"
#include "steering/address.h"

namespace xlane::net {

// Neighbour states (NUD_*) in which the kernel itself would transmit to the
// cached link-layer address; the kernel keeps this set (NUD_VALID) private.
inline constexpr uint16_t kNeighbourUsableStates = 0x80 /*PERMANENT*/ | 0x40 /*NOARP*/ |
                                                   0x02 /*REACHABLE*/ | 0x10 /*PROBE*/ |
                                                   0x04 /*STALE*/ | 0x08 /*DELAY*/;

// What the kernel answered to RTM_GETROUTE for one destination.
struct RouteAnswer {
    uint8_t family = 0;  // AF_INET or AF_INET6
    uint8_t type = 0;    // RTN_UNICAST, RTN_LOCAL, ...
    uint32_t table = 0;
    uint32_t oif = 0;
    std::optional<IpAddress> gateway;           // RTA_GATEWAY, or RTA_VIA (any family)
    std::optional<IpAddress> preferred_source;  // RTA_PREFSRC
    uint32_t mtu = 0;                           // RTAX_MTU of RTA_METRICS; 0 when unset
};

struct NeighbourEntry {
    uint32_t ifindex = 0;
    IpAddress address;
    uint16_t state = 0;                  // NUD_* bits
    uint8_t flags = 0;                   // NTF_* bits
    std::optional<packet::MacAddr> mac;  // absent unless a 6-byte NDA_LLADDR was given
};

struct LinkEntry {
    uint32_t ifindex = 0;
    uint32_t mtu = 0;
    std::string name;
    std::string kind;   // IFLA_INFO_KIND: "veth", "bridge", ...; empty for none
    uint32_t link = 0;  // IFLA_LINK: a veth's peer ifindex (in the peer's namespace)
    std::optional<int32_t> link_netnsid;  // IFLA_LINK_NETNSID: absent when the peer is in ours
    std::string qdisc;                    // IFLA_QDISC: the root qdisc's kind ("noqueue", ...)
    uint32_t tx_queues = 0;               // IFLA_NUM_TX_QUEUES: allocated, not only the active ones
};

struct AddressEntry {
    uint32_t ifindex = 0;
    uint8_t family = 0;
    uint8_t prefix_len = 0;
    uint8_t scope = 0;   // RT_SCOPE_*
    uint32_t flags = 0;  // IFA_F_*, including the 32-bit IFA_FLAGS extension
    IpAddress address;   // IFA_LOCAL for IPv4 (IFA_ADDRESS is the peer on point-to-point)
};

// The next complete message of a received datagram, advancing `rest` past
// it; nullptr when no whole message is left. Replaces libmnl 1.0.4's
// mnl_nlmsg_ok()/mnl_nlmsg_next(), which compare nlmsg_len as an int, so a
// length of 2^31 or more passed and the decoders read far past the buffer
// (found by tests/fuzz/fuzz_rtnl). `rest` must be 4-byte aligned.
[[nodiscard]] const nlmsghdr* next_message(std::span<const uint8_t>& rest);

// Each decoder takes one complete message (nlmsg_len within the buffer) of
// the matching RTM_NEW*/RTM_DEL* type and refuses truncated or malformed ones.
[[nodiscard]] Result<RouteAnswer> decode_route(const nlmsghdr& msg);
[[nodiscard]] Result<NeighbourEntry> decode_neighbour(const nlmsghdr& msg);
[[nodiscard]] Result<LinkEntry> decode_link(const nlmsghdr& msg);
[[nodiscard]] Result<AddressEntry> decode_address(const nlmsghdr& msg);

// The address a socket on `ifindex` would most likely get as its source when
// the route names none: the first usable address of the family with the
// widest scope (IPv4 secondaries, IPv6 tentative/deprecated/failed skipped).
[[nodiscard]] std::optional<IpAddress> primary_address(std::span<const AddressEntry> addresses,
                                                       uint32_t ifindex, bool ipv4);

// Request encoders: each writes one message at the start of `buffer` (which
// must hold kRequestBufferSize bytes) and returns it; the socket sets the sequence.
inline constexpr size_t kRequestBufferSize = 256;
// RTM_GETROUTE for one destination, as `ip route get DST` asks (+ NLM_F_ACK).
nlmsghdr* encode_route_get(uint8_t* buffer, const IpAddress& destination);
// RTM_NEWNEIGH with NTF_USE (+ NLM_F_CREATE): the kernel creates the entry
// if needed and starts ARP/ND exactly as if it had a packet to send to it.
nlmsghdr* encode_neighbour_resolve(uint8_t* buffer, uint32_t ifindex, const IpAddress& address);
// RTM_GETLINK for one interface.
nlmsghdr* encode_link_get(uint8_t* buffer, uint32_t ifindex);
// RTM_GETNSID for the namespace behind the file descriptor `netns_fd`: the
// answer's NETNSA_NSID is that namespace's id as this one sees it.
nlmsghdr* encode_netns_id_get(uint8_t* buffer, int netns_fd);
// RTM_NEWQDISC as `tc qdisc add dev IFINDEX root handle HANDLE KIND` (no
// options): NLM_F_EXCL, so a queue someone else configured is never replaced.
nlmsghdr* encode_root_qdisc_add(uint8_t* buffer, uint32_t ifindex, uint32_t handle,
                                const char* kind);
// RTM_DELQDISC of the root qdisc, refused by the kernel unless its handle is `handle`.
nlmsghdr* encode_root_qdisc_delete(uint8_t* buffer, uint32_t ifindex, uint32_t handle);
// Decodes RTM_NEWNSID; the id, or -1 (NETNSA_NSID_NOT_ASSIGNED) when there is none.
[[nodiscard]] Result<int32_t> decode_netns_id(const nlmsghdr& msg);
// A dump request (RTM_GETNEIGH, RTM_GETADDR, ...) for one family or AF_UNSPEC.
nlmsghdr* encode_dump(uint8_t* buffer, uint16_t type, uint8_t family);

}  // namespace xlane::net
