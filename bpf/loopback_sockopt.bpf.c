// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Loopback path, SO_RCVLOWAT: bytes redirected into a socket's sk_msg queue
 * make it readable whatever its low-water mark (the kernel checks the mark
 * only against its TCP receive queue). So a socket that asks for a mark > 1
 * receives on TCP instead: this cgroup/setsockopt program flags it, and
 *  - before insertion, sock_ops sees the flag and leaves it out of the map
 *    (its peer then misses and moves to the kernel path);
 *  - once inserted, it marks the socket's xlane_lb_runs entry `leaving`, and
 *    its peer's sk_msg passes every later send to TCP. Bytes redirected
 *    before that stay queued and are read first, so nothing is reordered.
 * It never changes the option: optlen = 0 tells the kernel to use the
 * caller's own buffer (also for values longer than a page).
 */
#include "loopback_maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define XLANE_SOL_SOCKET 1
#define XLANE_SO_RCVLOWAT 18

/* The socket's own xlane_lb_key, as sock_ops built it at insertion. */
static __always_inline void sock_key(struct bpf_sock *sk, struct xlane_lb_key *key)
{
	if (sk->family == XLANE_AF_INET) {
		xlane_lb_addr4(&key->local_addr, sk->src_ip4);
		xlane_lb_addr4(&key->remote_addr, sk->dst_ip4);
	} else {
		__u32 local6[4], remote6[4];

		xlane_ctx_ip6(local6, sk->src_ip6);
		xlane_ctx_ip6(remote6, sk->dst_ip6);
		xlane_lb_addr6(&key->local_addr, local6);
		xlane_lb_addr6(&key->remote_addr, remote6);
	}
	key->local_port = (__u16)sk->src_port;
	key->remote_port = bpf_ntohs(sk->dst_port);
}

SEC("cgroup/setsockopt")
int xlane_lb_lowat(struct bpf_sockopt *ctx)
{
	struct xlane_lb_sock_state *state;
	struct xlane_lb_config *cfg;
	struct bpf_sock *sk = ctx->sk;
	void *end = ctx->optval_end;
	int *value = ctx->optval;

	if (ctx->level != XLANE_SOL_SOCKET || ctx->optname != XLANE_SO_RCVLOWAT)
		goto out;
	if (!sk || sk->protocol != IPPROTO_TCP ||
	    (sk->family != XLANE_AF_INET && sk->family != XLANE_AF_INET6))
		goto out;
	if ((void *)(value + 1) > end || *value <= 1)
		goto out;
	cfg = xlane_lb_config();
	if (!cfg || bpf_get_netns_cookie(ctx) != cfg->netns_cookie)
		goto out;
	/* The hook runs under the socket's lock, like sock_ops' insertion:
	 * either insertion sees the flag, or this sees the socket inserted. */
	state = bpf_sk_storage_get(&xlane_lb_state, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (!state)
		goto out; /* insertion still reads the mark with bpf_getsockopt */
	if (state->flags & XLANE_LB_SOCK_RCVLOWAT)
		goto out;
	state->flags |= XLANE_LB_SOCK_RCVLOWAT;
	if (state->flags & XLANE_LB_SOCK_INSERTED) {
		struct xlane_lb_key key = {};

		sock_key(sk, &key);
		xlane_lb_stop_redirects_into(&key);
		xlane_lb_count(XLANE_LB_RCVLOWAT, 0);
	}
out:
	ctx->optlen = 0;
	return 1;
}
