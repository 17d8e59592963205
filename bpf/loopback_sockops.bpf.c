// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Loopback path, insertion side: a sock_ops program on a cgroup-v2 adds each
 * newly established local TCP socket (both ends, each on its own callback)
 * to xlane_lb_socks, where the sk_msg program finds it as a peer.
 */
#include "kernel_sock.h"
#include "loopback_maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline int is_loopback(const struct xlane_addr *a)
{
	const __u32 *w = (const __u32 *)a->bytes;

	if (w[0] == 0 && w[1] == 0 && w[2] == bpf_htonl(0x0000ffff))
		return (bpf_ntohl(w[3]) >> 24) == 127;           /* 127.0.0.0/8 */
	return w[0] == 0 && w[1] == 0 && w[2] == 0 && w[3] == bpf_htonl(1); /* ::1 */
}

static __always_inline int same_addr(const struct xlane_addr *a, const struct xlane_addr *b)
{
	const __u32 *x = (const __u32 *)a->bytes, *y = (const __u32 *)b->bytes;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

/*
 * Both ends are on this host when the peer is a loopback address, or when
 * the peer's address is our own (the kernel picks a local destination as the
 * source). A client bound to another local address is left to the kernel:
 * nothing here can prove that address local, and a miss is always safe.
 */
static __always_inline int is_local_connection(const struct xlane_lb_key *key)
{
	return is_loopback(&key->remote_addr) || same_addr(&key->local_addr, &key->remote_addr);
}

static __always_inline int port_selected(const struct xlane_lb_config *cfg,
					 const struct xlane_lb_key *key)
{
	if (!cfg->port_filter)
		return 1;
	return bpf_map_lookup_elem(&xlane_lb_ports, &key->local_port) ||
	       bpf_map_lookup_elem(&xlane_lb_ports, &key->remote_port);
}

/* The socket's own key; 0 when it is neither IPv4 nor IPv6. */
static __always_inline int sockops_key(struct bpf_sock_ops *skops, struct xlane_lb_key *key)
{
	if (skops->family == XLANE_AF_INET) {
		xlane_lb_addr4(&key->local_addr, skops->local_ip4);
		xlane_lb_addr4(&key->remote_addr, skops->remote_ip4);
	} else if (skops->family == XLANE_AF_INET6) {
		__u32 local6[4], remote6[4];

		xlane_ctx_ip6(local6, skops->local_ip6);
		xlane_ctx_ip6(remote6, skops->remote_ip6);
		xlane_lb_addr6(&key->local_addr, local6);
		xlane_lb_addr6(&key->remote_addr, remote6);
	} else {
		return 0;
	}
	key->local_port = (__u16)skops->local_port;
	key->remote_port = xlane_lb_remote_port(skops->remote_port);
	return 1;
}

#define XLANE_SOL_SOCKET 1
#define XLANE_SO_RCVLOWAT 18

/*
 * Redirected bytes make a socket readable below its SO_RCVLOWAT mark, so a
 * socket with a mark > 1 receives on TCP: it stays out of the map. The mark
 * comes from the setsockopt hook's flag (set under this same socket lock) or,
 * when it was set before `enable` or inherited from the listener, from the
 * socket itself.
 */
static __always_inline int wants_rcvlowat(struct bpf_sock_ops *skops,
					  const struct xlane_lb_sock_state *state)
{
	int lowat = 1;

	if (state && (state->flags & XLANE_LB_SOCK_RCVLOWAT))
		return 1;
	if (bpf_getsockopt(skops, XLANE_SOL_SOCKET, XLANE_SO_RCVLOWAT, &lowat, sizeof(lowat)) != 0)
		return 0;
	return lowat > 1;
}

/*
 * The state callback stays on for the life of every socket that got an
 * xlane_lb_runs entry: at close the entry goes (forget_at_close). The map is
 * an LRU, so entries of closed connections would otherwise stay until
 * evicted, and under connection churn push out the entries of live ones.
 */
#define XLANE_LB_CLOSE_CB BPF_SOCK_OPS_STATE_CB_FLAG

/* Ends the checks for leaving the map; the close callback stays. */
static __always_inline void stop_leave_checks(struct bpf_sock_ops *skops)
{
	bpf_sock_ops_cb_flags_set(skops, XLANE_LB_CLOSE_CB);
}

static __always_inline void insert(struct bpf_sock_ops *skops, struct xlane_lb_config *cfg)
{
	struct xlane_lb_flow_state fresh = { .inserted = 1 };
	struct xlane_lb_sock_state *state = NULL;
	struct xlane_lb_key key = {};

	if (!sockops_key(skops, &key))
		return;
	if (!is_local_connection(&key)) {
		xlane_lb_count(XLANE_LB_SKIP_NONLOCAL, 0);
		return;
	}
	if (!port_selected(cfg, &key)) {
		xlane_lb_count(XLANE_LB_SKIP_PORT, 0);
		return;
	}
	/* Bytes that already went through TCP (TCP Fast Open data in the SYN)
	 * could be overtaken by redirected ones: such a connection stays on the
	 * kernel path, and without this end in the map its peer misses too. */
	if (skops->data_segs_in || skops->data_segs_out) {
		xlane_lb_count(XLANE_LB_SKIP_EARLY_DATA, 0);
		return;
	}
	if (skops->sk)
		state = bpf_sk_storage_get(&xlane_lb_state, skops->sk, NULL,
					   BPF_SK_STORAGE_GET_F_CREATE);
	if (wants_rcvlowat(skops, state)) {
		xlane_lb_count(XLANE_LB_RCVLOWAT, 0);
		return;
	}
	/* Without a state slot a later SO_RCVLOWAT could not be seen. */
	if (!state) {
		xlane_lb_count(XLANE_LB_INSERT_FAILED, 0);
		return;
	}
	bpf_map_update_elem(&xlane_lb_runs, &key, &fresh, BPF_ANY);
	bpf_sock_ops_cb_flags_set(skops, XLANE_LB_CLOSE_CB);
	if (bpf_sock_hash_update(skops, &xlane_lb_socks, &key, BPF_NOEXIST) != 0) {
		xlane_lb_count(XLANE_LB_INSERT_FAILED, 0);
		return;
	}
	state->flags |= XLANE_LB_SOCK_INSERTED;
	xlane_lb_count(XLANE_LB_INSERTED, 0);
	/* ACKs only flow once the socket sends on the kernel path: then the
	 * RTT callback can take it out of the map (release_to_kernel), or
	 * after its peer (leave_after_peer). Data segments only arrive once
	 * its peer sends on the kernel path: then the header callback (slow
	 * path only) can take it out after its peer. Redirected bytes
	 * trigger neither. */
	bpf_sock_ops_cb_flags_set(skops, BPF_SOCK_OPS_RTT_CB_FLAG |
					     BPF_SOCK_OPS_PARSE_ALL_HDR_OPT_CB_FLAG | XLANE_LB_CLOSE_CB);
}

/* What a check for leaving the SOCKHASH found. */
enum leave_result {
	LEAVE_NOT_YET = 0, /* look again at a later callback */
	LEAVE_DONE = 1,    /* out of the map, or in it for good: checks off */
	LEAVE_NEVER = 2,   /* this way out is closed for good */
	LEAVE_REDIRECTS_GO_ON = 3, /* it or its peer may still redirect: look */
				   /* again, XLANE_LB_LEAVE_CHECKS times at most */
};

/*
 * A socket the sk_msg program moved to the kernel path for good still pays
 * for the sk_msg layer on every send. Take it out of the SOCKHASH, which
 * gives it back the plain TCP code, unless its peer ever redirected into it:
 * removal would drop bytes still queued for it (see xlane_lb_flow_state).
 */
static __always_inline enum leave_result release_to_kernel(struct bpf_sock_ops *skops)
{
	struct xlane_lb_flow_state *flow;
	struct xlane_lb_key key = {};

	flow = sockops_key(skops, &key) ? bpf_map_lookup_elem(&xlane_lb_runs, &key) : 0;
	if (!flow || !flow->inserted) {
		/* We no longer know what it received: it stays, for good. */
		stop_leave_checks(skops);
		return LEAVE_DONE;
	}
	if (*(volatile __u32 *)&flow->received)
		return LEAVE_NEVER; /* only after its peer */
	if (*(volatile __u32 *)&flow->announcing)
		return LEAVE_NOT_YET; /* a send is deciding: look again */
	__sync_fetch_and_add(&flow->leaving, 1);
	if (*(volatile __u32 *)&flow->announcing || *(volatile __u32 *)&flow->received) {
		/* A redirect was announced meanwhile: stay. Take the raise
		 * back; a peer that saw it passes to TCP. */
		__sync_fetch_and_add(&flow->leaving, (__u32)-1);
		return *(volatile __u32 *)&flow->received ? LEAVE_NEVER : LEAVE_NOT_YET;
	}
	stop_leave_checks(skops);
	if (bpf_map_delete_elem(&xlane_lb_socks, &key) == 0) {
		flow->released = 1;
		xlane_lb_count(XLANE_LB_RELEASED, 0);
	}
	return LEAVE_DONE;
}

/* Whether the socket's sk_msg queue (psock->ingress_msg) is empty. */
static __always_inline int msg_queue_empty(struct bpf_sock *sk)
{
	struct sk_psock *psock = xlane_psock_of(sk);

	return psock && xlane_psock_queue_empty(psock);
}

/*
 * A receiving socket whose peer sends on TCP for good (`on_tcp`, set by the
 * sk_msg program, or `released`) is never redirected into again, and no
 * redirect the peer decided before is still on its way (the peer only
 * switched once no other send of it was in progress: may_leave_redirect in
 * loopback_msg.bpf.c). Once this socket's sk_msg queue is empty, it leaves
 * the map, which gives its receives back the plain TCP code
 * (tcp_bpf_recvmsg waits and reads differently). Both ends of a connection
 * that were each redirected into can leave this way once both send on TCP
 * (a spinner and its peer). Checked on segments that arrive through TCP
 * (header callback: slow path only; they come from a peer on TCP, so the
 * wait is for this socket's queue to drain) and on ACKs of this socket's
 * own TCP data (RTT callback, fast path too, capped by the caller: the peer
 * may keep redirecting).
 */
static __always_inline enum leave_result leave_after_peer(struct bpf_sock_ops *skops)
{
	struct xlane_lb_flow_state *self_flow, *peer_flow;
	struct xlane_lb_key key = {}, peer = {};
	struct bpf_sock *sk = skops->sk;

	if (!sk || !sockops_key(skops, &key))
		return LEAVE_NEVER;
	xlane_lb_swapped(&key, &peer);
	peer_flow = bpf_map_lookup_elem(&xlane_lb_runs, &peer);
	if (!peer_flow)
		return LEAVE_NEVER; /* evicted or closed: what it does is unknown */
	if (!*(volatile __u32 *)&peer_flow->on_tcp && !*(volatile __u32 *)&peer_flow->released)
		return LEAVE_REDIRECTS_GO_ON;
	if (!msg_queue_empty(sk))
		return LEAVE_NOT_YET;
	self_flow = bpf_map_lookup_elem(&xlane_lb_runs, &key);
	stop_leave_checks(skops);
	if (bpf_map_delete_elem(&xlane_lb_socks, &key) == 0) {
		if (self_flow)
			self_flow->released = 1;
		xlane_lb_count(XLANE_LB_RELEASED, 0);
	}
	return LEAVE_DONE;
}

/*
 * RTT callback: an ACK of this socket's TCP data, so it sends on the kernel
 * path (the sk_msg program decides the mode first; redirected bytes are
 * never acknowledged). It tries release_to_kernel until that is decided; a
 * socket that was redirected into then checks leave_after_peer, on later
 * ACKs too, which arrive on TCP's fast path as well, where the header
 * callback never runs. A peer that keeps redirecting never lets it leave,
 * so the looking stops after XLANE_LB_LEAVE_CHECKS ACKs that found nothing:
 * a few microseconds per connection, not a program run on every ACK for
 * its life.
 */
static __always_inline void on_kernel_path_ack(struct bpf_sock_ops *skops)
{
	struct xlane_lb_sock_state *state;
	enum leave_result r;

	if (!skops->sk)
		return;
	state = bpf_sk_storage_get(&xlane_lb_state, skops->sk, NULL, 0);
	if (!state || state->mode != XLANE_LB_MODE_KERNEL)
		return;
	if (!(state->flags & XLANE_LB_SOCK_STAYS)) {
		r = release_to_kernel(skops);
		if (r == LEAVE_DONE)
			return;
		if (r == LEAVE_NEVER)
			state->flags |= XLANE_LB_SOCK_STAYS;
	}
	if (state->flags & XLANE_LB_SOCK_STAYS) {
		r = leave_after_peer(skops);
		if (r == LEAVE_DONE)
			return;
		if (r == LEAVE_NEVER) {
			stop_leave_checks(skops); /* both ways out are closed */
			return;
		}
	}
	if (++state->leave_checks >= XLANE_LB_LEAVE_CHECKS)
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags &
						 ~BPF_SOCK_OPS_RTT_CB_FLAG);
}

/*
 * Header callback: a segment that took TCP's slow path. Data comes this way
 * only from a peer on TCP, so the usual wait is for this socket's sk_msg
 * queue to drain, however long its reader takes. A socket that still
 * redirects stays: one of its redirects may be on its way, and its next
 * send, on plain TCP once out of the map, could overtake it (the RTT
 * callback only looks at sockets on the kernel path). That case, and
 * segments from a peer that still redirects (its ACKs), count towards the
 * cap of the RTT callback's checks.
 */
static __always_inline void on_slow_path_segment(struct bpf_sock_ops *skops)
{
	struct xlane_lb_sock_state *state;
	enum leave_result r = LEAVE_NEVER;

	state = skops->sk ? bpf_sk_storage_get(&xlane_lb_state, skops->sk, NULL, 0) : NULL;
	if (state) {
		r = state->mode == XLANE_LB_MODE_REDIRECT ? LEAVE_REDIRECTS_GO_ON
							  : leave_after_peer(skops);
		if (r == LEAVE_REDIRECTS_GO_ON && ++state->leave_checks >= XLANE_LB_LEAVE_CHECKS)
			r = LEAVE_NEVER;
	}
	if (r == LEAVE_NEVER)
		bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags &
						 ~BPF_SOCK_OPS_PARSE_ALL_HDR_OPT_CB_FLAG);
}

/* The socket closes: its runs entry goes. A peer that looks it up later
 * finds none and stays in the map (leave_after_peer: unknown), which is
 * safe; its sk_msg program then finds no `leaving` to obey, and its
 * redirects miss, since a closed socket has left the SOCKHASH. */
static __always_inline void forget_at_close(struct bpf_sock_ops *skops)
{
	struct xlane_lb_key key = {};

	if (skops->args[1] == BPF_TCP_CLOSE && sockops_key(skops, &key))
		bpf_map_delete_elem(&xlane_lb_runs, &key);
}

SEC("sockops")
int xlane_lb_sops(struct bpf_sock_ops *skops)
{
	struct xlane_lb_config *cfg = xlane_lb_config();

	if (!cfg || bpf_get_netns_cookie(skops) != cfg->netns_cookie)
		return 1;
	switch (skops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		if (cfg->insert)
			insert(skops, cfg);
		break;
	case BPF_SOCK_OPS_RTT_CB:
		if (cfg->insert)
			on_kernel_path_ack(skops);
		break;
	case BPF_SOCK_OPS_PARSE_HDR_OPT_CB:
		if (cfg->insert)
			on_slow_path_segment(skops);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		forget_at_close(skops);
		break;
	}
	return 1;
}
