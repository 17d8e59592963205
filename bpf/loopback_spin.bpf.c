// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Loopback path, spinning receivers: a BTF tracepoint program on
 * sock:sock_recv_length, which the kernel fires after every socket receive
 * (recv, recvfrom, recvmsg, recvmmsg, read) with its result.
 *
 * A thread that spins on a non-blocking receive takes its socket's lock in
 * every empty call (tcp_bpf_recvmsg). The peer's redirect has to take that
 * same lock to queue its bytes (bpf_tcp_ingress -> lock_sock) and, finding
 * it owned, sleeps until the spinner lets go, often to find it owned again:
 * a receiver that spins made the redirect slower than the kernel's TCP,
 * whose softirq side never waits for the lock (it uses the backlog).
 *
 * So once an inserted socket's non-blocking receives come back empty
 * `spin_reads` times in a row with nothing read between, its peer sends via
 * TCP from then on (xlane_lb_stop_redirects_into), and so does the spinner
 * from its next send made alone (xlane_lb_msg): both ends then leave the
 * map. An event loop reads until one EAGAIN and then waits for readiness,
 * and libxlane.so's receive look stops a spinner after two: neither reaches
 * the mark.
 */
#include "kernel_sock.h"
#include "loopback_maps.h"

#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define XLANE_EAGAIN 11
#define XLANE_MSG_DONTWAIT 0x40
#define XLANE_MSG_ERRQUEUE 0x2000
#define XLANE_O_NONBLOCK 04000

/* A receive that could not wait: MSG_DONTWAIT, or an O_NONBLOCK file. A
 * blocking receive that timed out (SO_RCVTIMEO) also fails with EAGAIN, but
 * it slept without the socket's lock: it is no spinner. */
static __always_inline int non_blocking(const struct sock *sk, int flags)
{
	if (flags & XLANE_MSG_DONTWAIT)
		return 1;
	return (BPF_CORE_READ(sk, sk_socket, file, f_flags) & XLANE_O_NONBLOCK) != 0;
}

/* The socket's own xlane_lb_key, as sock_ops built it at insertion; 0 when
 * it cannot be built (an IPv6 socket on a kernel built without IPv6 has no
 * such fields, and the program must still load there). */
static __always_inline int sock_key(const struct sock *sk, struct xlane_lb_key *key)
{
	const struct sock_common *c = &sk->__sk_common;

	if (BPF_CORE_READ(c, skc_family) == XLANE_AF_INET) {
		xlane_lb_addr4(&key->local_addr, BPF_CORE_READ(c, skc_rcv_saddr));
		xlane_lb_addr4(&key->remote_addr, BPF_CORE_READ(c, skc_daddr));
	} else if (bpf_core_field_exists(c->skc_v6_daddr)) {
		struct in6_addr local6 = BPF_CORE_READ(c, skc_v6_rcv_saddr);
		struct in6_addr remote6 = BPF_CORE_READ(c, skc_v6_daddr);

		xlane_lb_addr6(&key->local_addr, local6.s6_addr32);
		xlane_lb_addr6(&key->remote_addr, remote6.s6_addr32);
	} else {
		return 0;
	}
	key->local_port = BPF_CORE_READ(c, skc_num);
	key->remote_port = bpf_ntohs(BPF_CORE_READ(c, skc_dport));
	return 1;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(xlane_lb_spin, struct sock *sk, int ret, int flags)
{
	struct xlane_lb_sock_state *state;
	struct xlane_lb_config *cfg;
	struct xlane_lb_key key = {};

	/* Only sockets the loopback programs have met carry a state slot:
	 * every other receive on the host ends here. */
	state = bpf_sk_storage_get(&xlane_lb_state, sk, NULL, 0);
	if (!state)
		return 0;
	/* Error-queue reads (timestamps, zero-copy completions) never touch
	 * the receive queue: they neither count nor end a run. */
	if (state->empty_reads == XLANE_LB_SPINNING || (flags & XLANE_MSG_ERRQUEUE))
		return 0;
	if (ret != -XLANE_EAGAIN || !non_blocking(sk, flags)) {
		if (state->empty_reads)
			state->empty_reads = 0;
		return 0;
	}
	cfg = xlane_lb_config();
	if (!cfg || !cfg->spin_reads || cfg->pass_all)
		return 0;
	if (++state->empty_reads < cfg->spin_reads)
		return 0;
	state->empty_reads = XLANE_LB_SPINNING;
	if (!(state->flags & XLANE_LB_SOCK_INSERTED))
		return 0;
	if (!sock_key(sk, &key))
		return 0;
	xlane_lb_stop_redirects_into(&key);
	xlane_lb_count(XLANE_LB_SPINNER, 0);
	return 0;
}
