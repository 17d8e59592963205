/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The few fields of the kernel's socket structures that the loopback
 * programs read through BTF. CO-RE relocates each access against the running
 * kernel's BTF, matching names through the kernel's anonymous unions, so
 * only the fields read are declared (struct in6_addr is the UAPI one, read
 * whole). */
#ifndef XLANE_KERNEL_SOCK_H
#define XLANE_KERNEL_SOCK_H

#include <linux/in6.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct sock_common {
	__u32 skc_daddr;
	__u32 skc_rcv_saddr;
	__u16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct file {
	unsigned int f_flags;
} __attribute__((preserve_access_index));

struct socket {
	struct file *file;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	struct socket *sk_socket;
	void *sk_user_data;
} __attribute__((preserve_access_index));

struct list_head {
	struct list_head *next;
} __attribute__((preserve_access_index));

typedef struct {
	int counter;
} __attribute__((preserve_access_index)) atomic_t;

typedef struct refcount_struct {
	atomic_t refs;
} __attribute__((preserve_access_index)) refcount_t;

struct sk_psock {
	struct list_head ingress_msg;
	refcount_t refcnt;
} __attribute__((preserve_access_index));

/* sk_user_data carries flag bits below the pointer (SK_USER_DATA_*). */
#define XLANE_SK_USER_DATA_PTRMASK (~7UL)

/* The sockmap state (struct sk_psock) of a TCP socket in a SOCKHASH, or 0. */
static __always_inline struct sk_psock *xlane_psock_of(struct bpf_sock *sk)
{
	const struct sock *ksk = (const struct sock *)bpf_skc_to_tcp_sock(sk);

	if (!ksk)
		return 0;
	return (struct sk_psock *)((unsigned long)BPF_CORE_READ(ksk, sk_user_data) &
				   XLANE_SK_USER_DATA_PTRMASK);
}

/* References held on a psock: one per map the socket is in, plus one for
 * each send (tcp_bpf_sendmsg, for its whole call), receive (tcp_bpf_recvmsg)
 * and redirect into it (tcp_bpf_sendmsg_redir) in progress. */
static __always_inline int xlane_psock_refs(const struct sk_psock *psock)
{
	return BPF_CORE_READ(psock, refcnt.refs.counter);
}

/* Whether the psock's sk_msg queue (ingress_msg) is empty. */
static __always_inline int xlane_psock_queue_empty(const struct sk_psock *psock)
{
	return (unsigned long)BPF_CORE_READ(psock, ingress_msg.next) ==
	       (unsigned long)psock + bpf_core_field_offset(psock->ingress_msg);
}

#endif /* XLANE_KERNEL_SOCK_H */
