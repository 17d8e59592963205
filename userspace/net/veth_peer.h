// The queue in front of a veth's XDP ring.
//
// With an XDP program attached in native mode, a veth receives through a
// 256-slot ring that its peer's transmit fills and the veth's NAPI empties.
// When the ring is full, the peer's veth_xmit() drops the frame unless the
// peer has a qdisc: only then does the driver stop the peer's queue and let
// the frame wait (Linux 6.16, "veth: apply qdisc backpressure on full
// ptr_ring"). A veth has no qdisc by default (noqueue), so attaching XDP
// turned every burst above 256 frames into losses. Measured on 2026-12-05
// (wrk, 16 connections fetching 100 KB from nginx across the veth, 9 s):
// 49,727 frames dropped with a kernel client and 12,883 with a preloaded
// one, and TCP waiting out retransmission timeouts: p99 221-562 ms, against
// 4.6-10.7 ms and no drop with the queue below.
//
// So `xlane attach` gives a queueless peer a root qdisc, and `xlane detach`
// removes it: mq (one default qdisc per transmit queue, as Linux gives a
// multiqueue NIC) when the peer has several transmit queues, as a veth has
// one per possible CPU unless told otherwise; pfifo_fast otherwise. Measured
// with iperf3 -P 8 through a default veth: no drop with either, but a single
// root pfifo_fast reordered segments as it requeued them at the full ring
// (332-956 spurious retransmissions in 2 s, answered by DSACKs), mq 0-3.
// The qdisc carries xlane's own handle, and the kernel refuses to delete a
// root qdisc whose handle differs: a queue anybody else set up is never
// replaced nor removed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.h"

namespace xlane::net {

// 0x7861 is "xa"; `tc qdisc show` prints it as "7861:".
inline constexpr uint32_t kPeerQueueHandle = 0x78610000;

struct VethPeer {
    std::string name;
    uint32_t ifindex = 0;            // in the peer's namespace
    std::optional<int32_t> netnsid;  // the peer's namespace as ours sees it; absent: ours
    std::string netns_path;          // where that namespace was found ("" for ours)
    std::string qdisc;               // the peer's root qdisc kind ("noqueue" by default)
    uint32_t tx_queues = 0;          // transmit queues allocated to the peer
};

// The root qdisc xlane gives this peer: "mq" or "pfifo_fast".
[[nodiscard]] const char* peer_queue_kind(const VethPeer& peer);

// The peer of the interface `ifindex` of this namespace, or nullopt when that
// interface is not a veth.
[[nodiscard]] Result<std::optional<VethPeer>> find_veth_peer(uint32_t ifindex);

// Adds xlane's root qdisc to the peer. An error when the peer has gained a
// queue of its own meanwhile (EEXIST) or the kernel refuses.
[[nodiscard]] Status add_peer_queue(const VethPeer& peer);

// Removes the peer's root qdisc if it is xlane's; false when it is not.
[[nodiscard]] Result<bool> remove_peer_queue(const VethPeer& peer);

// "in this namespace" or "in namespace id 3 (/run/netns/blue)", for messages.
[[nodiscard]] std::string describe_peer_namespace(const VethPeer& peer);

// True when this kernel stops a veth peer's queue at a full XDP ring (6.16 or later).
[[nodiscard]] bool kernel_has_veth_backpressure();

}  // namespace xlane::net
