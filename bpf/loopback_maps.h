/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Maps shared by the loopback sock_ops, sk_msg and setsockopt programs. The
 * first loaded object creates and pins them under
 * /sys/fs/bpf/xlane/<netns>/loopback/; the others reuse the pinned maps, so
 * every program sees the same sockets. */
#ifndef XLANE_LOOPBACK_MAPS_H
#define XLANE_LOOPBACK_MAPS_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xlane/abi.h"

/* <sys/socket.h> is not usable under -target bpf. */
#define XLANE_AF_INET 2
#define XLANE_AF_INET6 10

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, XLANE_LB_MAX_SOCKS);
	__type(key, struct xlane_lb_key);
	__type(value, __u64);
} xlane_lb_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xlane_lb_config);
} xlane_lb_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLANE_LB_MAX_PORTS);
	__type(key, __u16);
	__type(value, __u8);
} xlane_lb_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLANE_LB_COUNTER_COUNT);
	__type(key, __u32);
	__type(value, struct xlane_counter);
} xlane_lb_stats SEC(".maps");

/* Per-socket path decision; freed with the socket. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct xlane_lb_sock_state);
} xlane_lb_state SEC(".maps");

/* struct xlane_lb_flow_state per socket (keyed by the socket's own key).
 * LRU: entries of closed sockets age out by themselves. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XLANE_LB_MAX_SOCKS);
	__type(key, struct xlane_lb_key);
	__type(value, struct xlane_lb_flow_state);
} xlane_lb_runs SEC(".maps");

static __always_inline struct xlane_lb_config *xlane_lb_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&xlane_lb_cfg, &zero);
}

static __always_inline void xlane_lb_count(__u32 counter, __u64 bytes)
{
	struct xlane_counter *c = bpf_map_lookup_elem(&xlane_lb_stats, &counter);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/* The key of the other end of a connection: addresses and ports swapped. */
static __always_inline void xlane_lb_swapped(const struct xlane_lb_key *key,
					     struct xlane_lb_key *other)
{
	other->local_addr = key->remote_addr;
	other->remote_addr = key->local_addr;
	other->local_port = key->remote_port;
	other->remote_port = key->local_port;
}

/*
 * Stops every later redirect into the socket keyed `key`, for good: its
 * peer's sk_msg reads `leaving` (after announcing a first redirect in
 * `announcing`, see struct xlane_lb_flow_state) and from then on passes to
 * TCP, once no other send of it is in progress. Bytes redirected before stay
 * queued and are read first, so nothing is reordered. The raise is
 * XLANE_LB_LEAVING_FOR_GOOD, never taken back, which libxlane.so tells apart
 * from release_to_kernel's raise of 1, which may be.
 */
static __always_inline void xlane_lb_stop_redirects_into(const struct xlane_lb_key *key)
{
	struct xlane_lb_flow_state fresh = {};
	struct xlane_lb_flow_state *flow = bpf_map_lookup_elem(&xlane_lb_runs, key);

	if (!flow) {
		/* Evicted from the LRU: recreate it, the peer looks it up. */
		bpf_map_update_elem(&xlane_lb_runs, key, &fresh, BPF_NOEXIST);
		flow = bpf_map_lookup_elem(&xlane_lb_runs, key);
	}
	if (flow)
		__sync_fetch_and_add(&flow->leaving, XLANE_LB_LEAVING_FOR_GOOD);
}

/* IPv4 as ::ffff:a.b.c.d, the same bytes an AF_INET6 socket reports for a
 * v4-mapped peer. `ip4` is in network order, as the contexts give it. */
static __always_inline void xlane_lb_addr4(struct xlane_addr *out, __u32 ip4)
{
	__u32 *w = (__u32 *)out->bytes;

	w[0] = 0;
	w[1] = 0;
	w[2] = bpf_htonl(0x0000ffff);
	w[3] = ip4;
}

static __always_inline void xlane_lb_addr6(struct xlane_addr *out, const __u32 ip6[4])
{
	__u32 *w = (__u32 *)out->bytes;

	w[0] = ip6[0];
	w[1] = ip6[1];
	w[2] = ip6[2];
	w[3] = ip6[3];
}

/* One 4-byte context load: the verifier refuses the 8-byte load clang
 * would otherwise merge two neighbouring ip6 words into. */
static __always_inline __u32 xlane_ctx_u32(const __u32 *field)
{
	return *(const volatile __u32 *)field;
}

static __always_inline void xlane_ctx_ip6(__u32 out[4], const __u32 *field)
{
	out[0] = xlane_ctx_u32(&field[0]);
	out[1] = xlane_ctx_u32(&field[1]);
	out[2] = xlane_ctx_u32(&field[2]);
	out[3] = xlane_ctx_u32(&field[3]);
}

/* The remote_port fields of bpf_sock_ops and sk_msg_md hold the port in
 * network order in the upper 16 bits (on little-endian hosts). */
static __always_inline __u16 xlane_lb_remote_port(__u32 remote_port_field)
{
	return bpf_ntohs((__u16)(remote_port_field >> 16));
}

#endif /* XLANE_LOOPBACK_MAPS_H */
