// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A stand-in for somebody else's XDP program: the integration tests attach
 * it with `ip link set dev X xdp obj ...` to check that `xlane attach`
 * refuses to replace it, and replaces it only under --force.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xl_test_foreign(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
