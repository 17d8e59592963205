/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Maps of the XDP steering program. User space opens them through their
 * pins under /sys/fs/bpf/xlane/<netns>/<ifname>/. */
#ifndef XLANE_XDP_STEER_MAPS_H
#define XLANE_XDP_STEER_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "xlane/abi.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLANE_MAX_FLOWS);
	__type(key, struct xlane_flow_key);
	__type(value, struct xlane_steer_value);
} xlane_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XLANE_MAX_BINDS);
	__type(key, struct xlane_bind_key);
	__type(value, struct xlane_steer_value);
} xlane_binds SEC(".maps");

/* One AF_XDP socket per RX queue; an empty slot makes the redirect fall back
 * to XDP_PASS, so a closed or crashed owner returns its flows to the kernel. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, XLANE_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xlane_xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XLANE_REASON_COUNT);
	__type(key, __u32);
	__type(value, struct xlane_counter);
} xlane_stats SEC(".maps");

#endif /* XLANE_XDP_STEER_MAPS_H */
