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

/* ==== Loopback path (sock_ops + sk_msg); owned by the loopback feature ==== */

#define XLANE_LB_MAX_SOCKS 65536 /* sockets in the loopback SOCKHASH */
#define XLANE_LB_MAX_PORTS 1024  /* entries of the --ports filter */

/*
 * A local TCP socket as the SOCKHASH keys it, from that socket's own side.
 * A sender looks up its peer with the addresses and ports swapped. IPv4 is
 * stored IPv4-mapped, so an AF_INET6 socket talking to ::ffff:127.0.0.1 and
 * its AF_INET peer agree on the key. Ports in host order.
 */
struct xlane_lb_key {
	struct xlane_addr local_addr;
	struct xlane_addr remote_addr;
	__u16 local_port;
	__u16 remote_port;
	__u32 pad;
};

/*
 * Runtime switches (one entry at index 0 of xlane_lb_cfg). The safe disable
 * order flips `insert` off, then `pass_all` on, before anything is removed.
 */
struct xlane_lb_config {
	__u64 netns_cookie;   /* act only on sockets of this network namespace */
	__u32 insert;         /* 1: sock_ops inserts established local sockets */
	__u32 pass_all;       /* 1: sk_msg returns SK_PASS for every message */
	__u32 port_filter;    /* 1: only connections with a port in xlane_lb_ports */
	/* Streaming policy: a socket that sends `stream_run` messages in a row,
	 * each smaller than `stream_small`, with no message from its peer in
	 * between, moves to the kernel path for good (the kernel's TCP
	 * autocorking batches such streams better than per-message redirect).
	 * stream_run == 0 switches the policy off. */
	__u32 stream_small;
	__u32 stream_run;
	/* Spinning-receiver policy: a socket whose non-blocking receives come
	 * back empty (EAGAIN) `spin_reads` times in a row, with nothing read
	 * between, is spinning (xlane_lb_spin). Its peer then sends via TCP for
	 * good: a redirect must take the receiver's socket lock, which the
	 * spinner holds in every receive, and sleeps on it. The spinner's own
	 * sends follow (xlane_lb_msg), and both ends leave the map. 0 switches
	 * the policy off. */
	__u32 spin_reads;
};

/* What the sk_msg program decided for a socket. Only NONE -> REDIRECT,
 * NONE -> KERNEL and REDIRECT -> KERNEL happen, never KERNEL -> REDIRECT:
 * bytes a peer may still hold unread in its TCP receive queue would be
 * overtaken by redirected bytes (the receiver reads its sk_msg queue first). */
enum xlane_lb_mode {
	XLANE_LB_MODE_NONE = 0,
	XLANE_LB_MODE_REDIRECT = 1,
	XLANE_LB_MODE_KERNEL = 2,
};

/* Bits of xlane_lb_sock_state.flags, each written under the socket's lock. */
#define XLANE_LB_SOCK_INSERTED (1u << 0) /* sock_ops put this socket in the SOCKHASH */
#define XLANE_LB_SOCK_RCVLOWAT (1u << 1) /* it set SO_RCVLOWAT > 1: receive on TCP */
#define XLANE_LB_SOCK_STAYS (1u << 2)    /* on the kernel path, but redirected into: */
					 /* it may only leave after its peer */
#define XLANE_LB_LEAVE_CHECKS 64

/* What the spin and SO_RCVLOWAT policies add to a socket's `leaving`, for
 * good; release_to_kernel adds 1 and may take it back. */
#define XLANE_LB_LEAVING_FOR_GOOD (1u << 16)

struct xlane_lb_sock_state {
	__u32 mode;  /* enum xlane_lb_mode */
	__u32 flags; /* XLANE_LB_SOCK_* */
	/* Receives in a row that found nothing (xlane_lb_spin), or
	 * XLANE_LB_SPINNING once the socket was found spinning (for good).
	 * Written after each receive, outside the socket's lock: threads
	 * receiving on one socket at once may lose counts, which only delays
	 * the decision. */
	__u32 empty_reads;
	/* Callbacks that looked for a way out of the map and found none yet:
	 * RTT callbacks (on_kernel_path_ack), and header callbacks while it or
	 * its peer still redirects (on_slow_path_segment). At
	 * XLANE_LB_LEAVE_CHECKS that callback stops looking. Reset when the
	 * socket moves to the kernel path, so checks made while it still
	 * redirected do not use up the ones after. */
	__u32 leave_checks;
};

#define XLANE_LB_SPINNING 0xffffffffu

/*
 * Per socket, keyed by its xlane_lb_key, written by both ends (xlane_lb_runs).
 * A sender's first redirect into a socket is announced: the sender adds to
 * the socket's `announcing`, then reads its `leaving`; if it redirects, it
 * sets `received` (for good) before it takes its add back, and from then on
 * it never announces again. A socket on the kernel path that would leave the
 * map adds to its own `leaving`, then reads `announcing`, then `received`.
 * The adds are atomic (a full barrier on x86 only: see xlane_lb_msg). So
 * either the sender sees `leaving` and stops redirecting (and takes its add
 * back), or the leaving socket sees the announcement or `received` and stays
 * in the map, taking its `leaving` back (a sender that saw it passed to TCP,
 * unless another of its sends was in progress: may_leave_redirect; the
 * others go on redirecting into a socket that stays). Only a sender in
 * REDIRECT mode may go on redirecting past `leaving`, and its first redirect
 * set the peer's `received` (or found no entry for the peer, which then
 * never leaves through release_to_kernel): so the peer stays. `received` is
 * 0 or 1, so it cannot wrap back to 0 however many sends were redirected.
 * A socket is removed from the SOCKHASH (back to the plain TCP code, no
 * sk_msg cost) only when no byte was ever redirected into it, and none can
 * be (release_to_kernel), or when its peer sends on TCP for good (`on_tcp`
 * or `released`) and its own sk_msg queue is empty (leave_after_peer).
 */
struct xlane_lb_flow_state {
	__u32 run;        /* small sends in a row with no send from the peer */
	__u32 received;   /* 1: the peer redirected into this socket (for good) */
	__u32 leaving;    /* > 0: redirects into it stop (leaves: 1; spins, SO_RCVLOWAT: */
			  /* XLANE_LB_LEAVING_FOR_GOOD) */
	__u32 inserted;   /* 1: entry made at insertion (not recreated after LRU eviction) */
	__u32 released;   /* 1: taken out of the SOCKHASH (release_to_kernel, leave_after_peer) */
	__u32 announcing; /* sends deciding on a first redirect into this socket */
	__u32 on_tcp;     /* 1: this socket's sends take TCP for good (sk_msg mode KERNEL, */
			  /* set when no other send of it was redirecting): none of */
			  /* its redirects is on its way, nor will be */
};

/* Per-CPU counters in xlane_lb_stats (packets = sockets or messages). */
enum xlane_lb_counter {
	XLANE_LB_INSERTED = 0,        /* sockets added to the SOCKHASH */
	XLANE_LB_INSERT_FAILED = 1,   /* bpf_sock_hash_update refused */
	XLANE_LB_SKIP_NONLOCAL = 2,   /* established, but the peer is not local */
	XLANE_LB_SKIP_PORT = 3,       /* local, but no port in the --ports list */
	XLANE_LB_SKIP_EARLY_DATA = 4, /* data moved before insertion (TFO): kernel */
	XLANE_LB_REDIRECTED = 5,      /* messages/bytes put in the peer's queue */
	XLANE_LB_MISS = 6,            /* peer not in the map: SK_PASS */
	XLANE_LB_KERNEL = 7,          /* socket on the kernel path (or a spinner moving there): SK_PASS */
	XLANE_LB_PASS_ALL = 8,        /* disabling: SK_PASS */
	XLANE_LB_DEMOTED = 9,         /* small-message stream moved to the kernel path */
	XLANE_LB_RELEASED = 10,       /* kernel-path socket left the map (plain TCP again) */
	XLANE_LB_RCVLOWAT = 11,       /* socket with SO_RCVLOWAT > 1: its peer sends via TCP */
	XLANE_LB_SPINNER = 12,        /* socket spinning on empty receives: both ends send via TCP */
	XLANE_LB_COUNTER_COUNT = 13
};

#define XLANE_LB_SOCKOPS_PROG_NAME "xlane_lb_sops"
#define XLANE_LB_MSG_PROG_NAME "xlane_lb_msg"
#define XLANE_LB_LOWAT_PROG_NAME "xlane_lb_lowat"
#define XLANE_LB_SPIN_PROG_NAME "xlane_lb_spin"
#define XLANE_LB_MAP_SOCKS "xlane_lb_socks"
#define XLANE_LB_MAP_CFG "xlane_lb_cfg"
#define XLANE_LB_MAP_PORTS "xlane_lb_ports"
#define XLANE_LB_MAP_STATS "xlane_lb_stats"
#define XLANE_LB_MAP_STATE "xlane_lb_state"
#define XLANE_LB_MAP_RUNS "xlane_lb_runs"

/* ==== end of loopback section ==== */

#endif /* XLANE_ABI_H */
