/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one binary interface shared by xlane's BPF programs and its C++ code:
 * map keys and values, counter ids and reason codes. Fixed-width types only,
 * explicit padding, network-order fields named *_be. Layout is checked by
 * static_assert in userspace/bpf/abi_layout.cpp.
 *
 * Reason and counter ids are append-only: never renumber, never reuse.
 */
#ifndef XLANE_ABI_H
#define XLANE_ABI_H

#include <linux/types.h>

/* ---- Limits (map sizes) ------------------------------------------------ */

#define XLANE_MAX_FLOWS 65536 /* connected sockets steered by 5-tuple */
#define XLANE_MAX_BINDS 4096  /* bound/listening sockets steered by 3-tuple */
#define XLANE_MAX_QUEUES 256  /* RX queues per interface (xlane_xsks size) */

/*
 * Addresses are IPv6-sized. IPv4 is stored IPv4-mapped (::ffff:a.b.c.d), so
 * one key type serves both families. Wildcard binds:
 *   ::ffff:0.0.0.0  any IPv4 local address   (XLANE_ADDR_ANY4)
 *   ::              any IPv6 local address   (XLANE_ADDR_ANY6)
 * A dual-stack socket bound to :: enters both.
 */
struct xlane_addr {
	__u8 bytes[16];
};

/* Exact 5-tuple of a connected socket, seen from this host: local is the
 * destination of received packets, remote their source. */
struct xlane_flow_key {
	struct xlane_addr local_addr;
	struct xlane_addr remote_addr;
	__u16 local_port_be;
	__u16 remote_port_be;
	__u8 proto; /* IPPROTO_UDP or IPPROTO_TCP */
	__u8 pad[3];
};

/* 3-tuple of a bound or listening socket. */
struct xlane_bind_key {
	struct xlane_addr local_addr;
	__u16 local_port_be;
	__u8 proto;
	__u8 pad;
};

/*
 * Who entered a steering entry. The start time (clock ticks since boot, field
 * 22 of /proc/PID/stat) makes a recycled pid distinguishable from the owner,
 * so the entries of dead processes can be removed safely.
 */
struct xlane_steer_value {
	__u32 owner_pid;
	__u32 flags; /* XLANE_STEER_* */
	__u64 owner_start_time;
};

#define XLANE_STEER_TEST_ENTRY (1U << 0) /* entered by a test or by hand */

/* ---- XDP steering counters ------------------------------------------- */

/*
 * Why the XDP program gave the verdict it gave. One per-CPU counter
 * (packets, bytes) per reason in xlane_stats; the verdict follows from the
 * reason (see xlane_reason_is_redirect).
 */
enum xlane_xdp_reason {
	XLANE_REASON_REDIRECT_FLOW = 0,   /* 5-tuple hit, delivered to an XSK */
	XLANE_REASON_REDIRECT_BIND = 1,   /* 3-tuple hit, delivered to an XSK */
	XLANE_REASON_PASS_NO_XSK = 2,     /* hit, but no XSK on this RX queue */
	XLANE_REASON_PASS_NO_MATCH = 3,   /* UDP/TCP, no steering entry */
	XLANE_REASON_PASS_NOT_IP = 4,     /* ARP, LLDP, other ethertypes */
	XLANE_REASON_PASS_NOT_L4 = 5,     /* ICMP, other IP protocols */
	XLANE_REASON_PASS_FRAGMENT = 6,   /* IPv4/IPv6 fragment */
	XLANE_REASON_PASS_IPV6_EXTHDR = 7, /* IPv6 extension headers: left to the kernel */
	XLANE_REASON_PASS_MALFORMED = 8,  /* truncated, bad IHL/version/length */
	XLANE_REASON_COUNT = 9
};

struct xlane_counter {
	__u64 packets;
	__u64 bytes;
};

static inline int xlane_reason_is_redirect(__u32 reason)
{
	return reason == XLANE_REASON_REDIRECT_FLOW ||
	       reason == XLANE_REASON_REDIRECT_BIND;
}

/* ---- Object names (bpftool shows these; BPF names are <= 15 chars) --- */

#define XLANE_XDP_PROG_NAME "xlane_steer"
#define XLANE_MAP_FLOWS "xlane_flows"
#define XLANE_MAP_BINDS "xlane_binds"
#define XLANE_MAP_XSKS "xlane_xsks"
#define XLANE_MAP_STATS "xlane_stats"

#endif /* XLANE_ABI_H */
