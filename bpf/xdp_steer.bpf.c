// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xlane_steer: the XDP program attached by `xlane attach`. Frames of flows
 * that match a steering entry go to the AF_XDP socket of their RX queue;
 * everything else, and every frame it cannot fully parse, goes to the kernel.
 *
 * Lookup order: exact 5-tuple (xlane_flows), then the 3-tuple of the local
 * address and port (xlane_binds), then the 3-tuple with the wildcard address
 * of the packet's family.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "parse.h"
#include "xdp_steer_maps.h"

#define VLAN_MAX_DEPTH 2
#define IPV4_FRAG_MASK 0x3fff /* MF flag | fragment offset */
#define IPV6_NEXTHDR_FRAGMENT 44

struct vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

/* What the parser extracted: the steering keys of the frame. */
struct parsed_frame {
	struct xlane_flow_key flow;
	__u32 l3_payload_len; /* bytes the IP header says follow it */
};

static __always_inline int verdict(struct xdp_md *ctx, __u32 reason, int action)
{
	struct xlane_counter *counter = bpf_map_lookup_elem(&xlane_stats, &reason);

	if (counter) {
		counter->packets++;
		counter->bytes += bpf_xdp_get_buff_len(ctx);
	}
	return action;
}

static __always_inline void map_ipv4(struct xlane_addr *out, __be32 addr)
{
	__builtin_memset(out->bytes, 0, 10);
	out->bytes[10] = 0xff;
	out->bytes[11] = 0xff;
	__builtin_memcpy(&out->bytes[12], &addr, 4);
}

static __always_inline int is_ipv6_exthdr(__u8 nexthdr)
{
	switch (nexthdr) {
	case 0:   /* hop-by-hop options */
	case 43:  /* routing */
	case 51:  /* authentication header */
	case 60:  /* destination options */
	case 135: /* mobility */
	case 139: /* host identity protocol */
	case 140: /* shim6 */
		return 1;
	}
	return 0;
}

/* Returns XLANE_REASON_COUNT when the L3 header was parsed, else the reason
 * the frame goes to the kernel. */
static __always_inline __u32 parse_ipv4(struct hdr_cursor *c, struct parsed_frame *f)
{
	struct iphdr *ip = cursor_take(c, sizeof(*ip));
	__u32 hdr_len;

	if (!ip || ip->version != 4 || ip->ihl < 5)
		return XLANE_REASON_PASS_MALFORMED;
	hdr_len = ip->ihl * 4;
	if (bpf_ntohs(ip->tot_len) < hdr_len || !cursor_frame_has(c, ip, bpf_ntohs(ip->tot_len)))
		return XLANE_REASON_PASS_MALFORMED;
	/* IPv4 options are skipped, not refused: the L4 header follows them. */
	if (hdr_len > sizeof(*ip) && !cursor_take(c, hdr_len - sizeof(*ip)))
		return XLANE_REASON_PASS_MALFORMED;
	if (ip->frag_off & bpf_htons(IPV4_FRAG_MASK))
		return XLANE_REASON_PASS_FRAGMENT;
	if (ip->protocol != IPPROTO_UDP && ip->protocol != IPPROTO_TCP)
		return XLANE_REASON_PASS_NOT_L4;
	f->flow.proto = ip->protocol;
	f->l3_payload_len = bpf_ntohs(ip->tot_len) - hdr_len;
	map_ipv4(&f->flow.local_addr, ip->daddr);
	map_ipv4(&f->flow.remote_addr, ip->saddr);
	return XLANE_REASON_COUNT;
}

static __always_inline __u32 parse_ipv6(struct hdr_cursor *c, struct parsed_frame *f)
{
	struct ipv6hdr *ip6 = cursor_take(c, sizeof(*ip6));

	if (!ip6 || ip6->version != 6)
		return XLANE_REASON_PASS_MALFORMED;
	if (!cursor_frame_has(c, c->pos, bpf_ntohs(ip6->payload_len)))
		return XLANE_REASON_PASS_MALFORMED;
	if (ip6->nexthdr == IPV6_NEXTHDR_FRAGMENT)
		return XLANE_REASON_PASS_FRAGMENT;
	if (is_ipv6_exthdr(ip6->nexthdr))
		return XLANE_REASON_PASS_IPV6_EXTHDR;
	if (ip6->nexthdr != IPPROTO_UDP && ip6->nexthdr != IPPROTO_TCP)
		return XLANE_REASON_PASS_NOT_L4;
	f->flow.proto = ip6->nexthdr;
	f->l3_payload_len = bpf_ntohs(ip6->payload_len);
	__builtin_memcpy(f->flow.local_addr.bytes, &ip6->daddr, 16);
	__builtin_memcpy(f->flow.remote_addr.bytes, &ip6->saddr, 16);
	return XLANE_REASON_COUNT;
}

/* The L4 header must also lie inside the IP payload: a frame whose UDP
 * length or TCP data offset overruns it is malformed, and the kernel, not
 * user space, should count and drop it. */
static __always_inline __u32 parse_l4(struct hdr_cursor *c, struct parsed_frame *f)
{
	if (f->flow.proto == IPPROTO_UDP) {
		struct udphdr *udp = cursor_take(c, sizeof(*udp));

		if (!udp || bpf_ntohs(udp->len) < sizeof(*udp) ||
		    bpf_ntohs(udp->len) > f->l3_payload_len)
			return XLANE_REASON_PASS_MALFORMED;
		f->flow.local_port_be = udp->dest;
		f->flow.remote_port_be = udp->source;
		return XLANE_REASON_COUNT;
	}
	struct tcphdr *tcp = cursor_take(c, sizeof(*tcp));

	if (!tcp || tcp->doff < 5 || tcp->doff * 4 > f->l3_payload_len)
		return XLANE_REASON_PASS_MALFORMED;
	f->flow.local_port_be = tcp->dest;
	f->flow.remote_port_be = tcp->source;
	return XLANE_REASON_COUNT;
}

static __always_inline __u32 parse_frame(struct xdp_md *ctx, struct parsed_frame *f)
{
	struct hdr_cursor c = {
		.pos = (void *)(long)ctx->data,
		.end = (void *)(long)ctx->data_end,
		.start = (void *)(long)ctx->data,
		.frame_len = (__u32)bpf_xdp_get_buff_len(ctx),
	};
	struct ethhdr *eth = cursor_take(&c, sizeof(*eth));
	__be16 proto;
	__u32 reason;

	if (!eth)
		return XLANE_REASON_PASS_MALFORMED;
	proto = eth->h_proto;
#pragma unroll
	for (int depth = 0; depth < VLAN_MAX_DEPTH; depth++) {
		struct vlan_hdr *vlan;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		vlan = cursor_take(&c, sizeof(*vlan));
		if (!vlan)
			return XLANE_REASON_PASS_MALFORMED;
		proto = vlan->encapsulated_proto;
	}

	if (proto == bpf_htons(ETH_P_IP))
		reason = parse_ipv4(&c, f);
	else if (proto == bpf_htons(ETH_P_IPV6))
		reason = parse_ipv6(&c, f);
	else
		return XLANE_REASON_PASS_NOT_IP;
	if (reason != XLANE_REASON_COUNT)
		return reason;
	return parse_l4(&c, f);
}

static __always_inline int is_ipv4_mapped(const struct xlane_addr *addr)
{
	return addr->bytes[10] == 0xff && addr->bytes[11] == 0xff &&
	       !addr->bytes[0] && !addr->bytes[1] && !addr->bytes[2] && !addr->bytes[3] &&
	       !addr->bytes[4] && !addr->bytes[5] && !addr->bytes[6] && !addr->bytes[7] &&
	       !addr->bytes[8] && !addr->bytes[9];
}

/* Returns the redirect reason on a hit, XLANE_REASON_PASS_NO_MATCH otherwise. */
static __always_inline __u32 lookup_steering(struct parsed_frame *f)
{
	struct xlane_bind_key bind = {};

	if (bpf_map_lookup_elem(&xlane_flows, &f->flow))
		return XLANE_REASON_REDIRECT_FLOW;

	bind.local_addr = f->flow.local_addr;
	bind.local_port_be = f->flow.local_port_be;
	bind.proto = f->flow.proto;
	if (bpf_map_lookup_elem(&xlane_binds, &bind))
		return XLANE_REASON_REDIRECT_BIND;

	/* Wildcard of the packet's family: ::ffff:0.0.0.0 or ::. */
	if (is_ipv4_mapped(&f->flow.local_addr)) {
		__builtin_memset(bind.local_addr.bytes, 0, 16);
		bind.local_addr.bytes[10] = 0xff;
		bind.local_addr.bytes[11] = 0xff;
	} else {
		__builtin_memset(bind.local_addr.bytes, 0, 16);
	}
	if (bpf_map_lookup_elem(&xlane_binds, &bind))
		return XLANE_REASON_REDIRECT_BIND;
	return XLANE_REASON_PASS_NO_MATCH;
}

/* Loaded multi-buffer (BPF_F_XDP_HAS_FRAGS, set by `xlane attach`) only for
 * a native attachment above 3000 bytes of MTU, where the driver needs it (a
 * veth refuses a single-buffer program beyond ~3,500): then a jumbo frame
 * arrives in fragments, headers in the linear part, which is why lengths
 * are checked against bpf_xdp_get_buff_len(). Generic XDP hands a
 * single-buffer program any frame linear (a TSO segment of 64 KB too); an
 * AF_XDP socket bound with XDP_USE_SG takes a frame larger than a UMEM frame
 * as a chain either way. */
SEC("xdp")
int xlane_steer(struct xdp_md *ctx)
{
	struct parsed_frame frame = {};
	__u32 reason = parse_frame(ctx, &frame);
	long action;

	if (reason != XLANE_REASON_COUNT)
		return verdict(ctx, reason, XDP_PASS);

	reason = lookup_steering(&frame);
	if (reason == XLANE_REASON_PASS_NO_MATCH)
		return verdict(ctx, reason, XDP_PASS);

	/* An empty XSK slot (owner closed or died) makes this XDP_PASS. */
	action = bpf_redirect_map(&xlane_xsks, ctx->rx_queue_index, XDP_PASS);
	if (action != XDP_REDIRECT)
		return verdict(ctx, XLANE_REASON_PASS_NO_XSK, XDP_PASS);
	return verdict(ctx, reason, XDP_REDIRECT);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
