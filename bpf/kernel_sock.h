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

struct sk_psock {
	struct list_head ingress_msg;
} __attribute__((preserve_access_index));

#endif /* XLANE_KERNEL_SOCK_H */
