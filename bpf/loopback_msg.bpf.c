// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Loopback path, data side: an sk_msg program on xlane_lb_socks moves each
 * send of an inserted socket straight into its peer's receive queue
 * (BPF_F_INGRESS). Anything it cannot or may not redirect is SK_PASS: the
 * bytes take the kernel's TCP path, never dropped.
 */
#include "kernel_sock.h"
#include "loopback_maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline void peer_key(struct sk_msg_md *msg, struct xlane_lb_key *peer)
{
	if (msg->family == XLANE_AF_INET) {
		xlane_lb_addr4(&peer->local_addr, msg->remote_ip4);
		xlane_lb_addr4(&peer->remote_addr, msg->local_ip4);
	} else {
		__u32 local6[4], remote6[4];

		xlane_ctx_ip6(local6, msg->local_ip6);
		xlane_ctx_ip6(remote6, msg->remote_ip6);
		xlane_lb_addr6(&peer->local_addr, remote6);
		xlane_lb_addr6(&peer->remote_addr, local6);
	}
	peer->local_port = xlane_lb_remote_port(msg->remote_port);
	peer->remote_port = (__u16)msg->local_port;
}

/*
 * Counts this socket's small sends since its peer last sent and tells when
 * the run is long enough to call the socket a small-message stream. The
 * peer's send resets our run: request/response traffic never builds one.
 */
static __always_inline int is_small_stream(const struct xlane_lb_config *cfg,
					   struct xlane_lb_flow_state *self, __u64 size)
{
	if (size >= cfg->stream_small) {
		self->run = 0;
		return 0;
	}
	self->run += 1;
	return self->run >= cfg->stream_run;
}

static __always_inline struct xlane_lb_flow_state *self_flow(const struct xlane_lb_key *peer)
{
	struct xlane_lb_key self = {};
	struct xlane_lb_flow_state fresh = {};
	struct xlane_lb_flow_state *flow;

	xlane_lb_swapped(peer, &self);
	flow = bpf_map_lookup_elem(&xlane_lb_runs, &self);

	if (flow)
		return flow;
	/* Evicted from the LRU: start over; `inserted` stays 0, so this socket
	 * never leaves the map (we no longer know what it received). */
	bpf_map_update_elem(&xlane_lb_runs, &self, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&xlane_lb_runs, &self);
}

/*
 * Whether a redirecting socket may pass this send to TCP, from now on. Not
 * while another send of it is in progress: tcp_bpf_send_verdict lets go of
 * the socket's lock while it redirects, so that send's bytes may not have
 * reached the peer's sk_msg queue yet, and this send's bytes, through TCP,
 * could be read before them (the peer's tcp_bpf_recvmsg picks the TCP
 * queue when it finds the sk_msg queue empty). Two threads that send on one
 * socket at once each keep their order in the kernel's TCP, and here too.
 * Each send holds a reference on the psock for its whole call; beyond the
 * SOCKHASH's and this send's, a reference may also be a receive: a thread
 * blocked in recv() on this socket defers the switch until a send finds
 * the socket alone, which may be never. The peer stays in the SOCKHASH
 * while a redirect into it is possible (xlane_lb_flow_state), so going on
 * redirecting is always safe.
 */
static __always_inline int may_leave_redirect(const struct xlane_lb_sock_state *state,
					      struct bpf_sock *sk)
{
	struct sk_psock *psock;

	if (state->mode != XLANE_LB_MODE_REDIRECT)
		return 1;
	psock = xlane_psock_of(sk);
	return psock && xlane_psock_refs(psock) <= 2;
}

/*
 * Whether the peer asked that sends into it stop (`leaving`: it leaves the
 * map, spins, or wants SO_RCVLOWAT) and this send may switch now. A first
 * redirect into the peer is announced before `leaving` is read (see struct
 * xlane_lb_flow_state): the atomic add is a full barrier on x86, whose JIT
 * emits a locked add. The arm64 JIT's STADD for an add whose result is
 * unused is not; other architectures would need the fetching form
 * (-mcpu=v3, result used). A peer already redirected into never leaves the
 * map through release_to_kernel, so later sends need no announcement.
 */
static __always_inline int peer_stops_redirects(struct xlane_lb_flow_state *peer_flow,
						const struct xlane_lb_sock_state *state,
						struct bpf_sock *sk)
{
	int stop;

	if (*(volatile __u32 *)&peer_flow->received)
		return *(volatile __u32 *)&peer_flow->leaving && may_leave_redirect(state, sk);
	__sync_fetch_and_add(&peer_flow->announcing, 1);
	stop = *(volatile __u32 *)&peer_flow->leaving && may_leave_redirect(state, sk);
	/* Set before the add is taken back: a leaving peer that finds no
	 * announcement finds `received`. */
	if (!stop)
		*(volatile __u32 *)&peer_flow->received = 1;
	__sync_fetch_and_add(&peer_flow->announcing, (__u32)-1);
	return stop;
}

/*
 * Takes the socket to the kernel path for good (see enum xlane_lb_mode).
 * Later sends run the program under the same socket lock and find the
 * mode. When no other send of it is redirecting either (may_leave_redirect:
 * true for a socket that never redirected), no redirect of this socket is on
 * its way, nor will be, and `on_tcp` tells its peer so (leave_after_peer).
 * Only a redirect that missed (the peer left the SOCKHASH, and no longer
 * looks) switches the mode without that check having held; if another send
 * was redirecting then, `on_tcp` stays 0.
 * Ordering: the peer reads `on_tcp` and then its own queue, both under its
 * socket lock; on x86 (TSO) the store cannot pass the earlier redirects'
 * queueing, which the sender saw done through the psock's reference count.
 * Weaker architectures would need a release store here and an acquire load
 * there, as for `announcing`.
 */
static __always_inline int pass_for_good(struct xlane_lb_sock_state *state,
					 struct bpf_sock *sk, const struct xlane_lb_key *peer,
					 __u32 counter, __u64 bytes)
{
	struct xlane_lb_flow_state *self;
	int alone;

	if (state && state->mode != XLANE_LB_MODE_KERNEL) {
		alone = may_leave_redirect(state, sk);
		state->mode = XLANE_LB_MODE_KERNEL;
		/* Checks made while it redirected do not count against the ones
		 * to come (xlane_lb_sock_state.leave_checks). */
		state->leave_checks = 0;
		self = alone ? self_flow(peer) : NULL;
		if (self)
			*(volatile __u32 *)&self->on_tcp = 1;
	}
	xlane_lb_count(counter, bytes);
	return SK_PASS;
}

/* Moves this send into the peer's sk_msg queue; when the peer is no longer
 * in the SOCKHASH (it closed), passes it to TCP for good, counted as `miss`. */
static __always_inline int redirect_to_peer(struct sk_msg_md *msg,
					    struct xlane_lb_sock_state *state, struct bpf_sock *sk,
					    struct xlane_lb_key *peer, __u64 size, __u32 miss)
{
	if (bpf_msg_redirect_hash(msg, &xlane_lb_socks, peer, BPF_F_INGRESS) != SK_PASS)
		return pass_for_good(state, sk, peer, miss, size);
	state->mode = XLANE_LB_MODE_REDIRECT;
	xlane_lb_count(XLANE_LB_REDIRECTED, size);
	return SK_PASS;
}

SEC("sk_msg")
int xlane_lb_msg(struct sk_msg_md *msg)
{
	struct xlane_lb_sock_state *state = NULL;
	struct xlane_lb_config *cfg;
	struct xlane_lb_flow_state *self, *peer_flow;
	struct xlane_lb_key peer = {};
	__u64 size = msg->size;
	struct bpf_sock *sk = msg->sk;

	if (sk)
		state = bpf_sk_storage_get(&xlane_lb_state, sk, NULL,
					   BPF_SK_STORAGE_GET_F_CREATE);
	cfg = xlane_lb_config();
	peer_key(msg, &peer);
	if (!cfg || cfg->pass_all) {
		/* `disable`: every socket leaves the redirect at its first send
		 * made alone. The maps stay and nothing is removed from the
		 * SOCKHASH, so redirecting until then is safe. */
		if (!state || may_leave_redirect(state, sk))
			return pass_for_good(state, sk, &peer, XLANE_LB_PASS_ALL, size);
		return redirect_to_peer(msg, state, sk, &peer, size, XLANE_LB_PASS_ALL);
	}
	/* Any send ends the peer's run, also one that takes TCP: a peer that
	 * still redirects its requests is no one-way stream. */
	peer_flow = bpf_map_lookup_elem(&xlane_lb_runs, &peer);
	if (peer_flow && peer_flow->run)
		peer_flow->run = 0;
	/* Without a state slot we could not remember a fall-back, and a later
	 * redirect could overtake it: such a socket never redirects. */
	if (!state || state->mode == XLANE_LB_MODE_KERNEL)
		return pass_for_good(state, sk, &peer, XLANE_LB_KERNEL, size);
	/* A socket found spinning (xlane_lb_spin) already gets its peer's
	 * sends through TCP. Its own go there too: with both directions on
	 * TCP both ends leave the map and the connection runs the plain TCP
	 * code. Redirecting only the spinner's requests was never faster than
	 * that, and was 0.88x the kernel on a host whose idle CPUs poll
	 * (docs/loopback.md, "Spinning receivers"). */
	if (state->empty_reads == XLANE_LB_SPINNING && may_leave_redirect(state, sk))
		return pass_for_good(state, sk, &peer, XLANE_LB_KERNEL, size);

	self = self_flow(&peer);
	if (cfg->stream_run && self && is_small_stream(cfg, self, size) &&
	    may_leave_redirect(state, sk))
		return pass_for_good(state, sk, &peer, XLANE_LB_DEMOTED, size);
	if (peer_flow && peer_stops_redirects(peer_flow, state, sk))
		return pass_for_good(state, sk, &peer, XLANE_LB_MISS, size);
	return redirect_to_peer(msg, state, sk, &peer, size, XLANE_LB_MISS);
}
