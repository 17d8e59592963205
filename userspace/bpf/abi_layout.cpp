// Build-time check of the BPF/C++ ABI: a field that moves fails the build.
#include <cstddef>

#include "xlane/abi.h"

static_assert(sizeof(xlane_addr) == 16);
static_assert(sizeof(xlane_flow_key) == 40);
static_assert(offsetof(xlane_flow_key, local_addr) == 0);
static_assert(offsetof(xlane_flow_key, remote_addr) == 16);
static_assert(offsetof(xlane_flow_key, local_port_be) == 32);
static_assert(offsetof(xlane_flow_key, remote_port_be) == 34);
static_assert(offsetof(xlane_flow_key, proto) == 36);
static_assert(sizeof(xlane_bind_key) == 20);
static_assert(offsetof(xlane_bind_key, local_port_be) == 16);
static_assert(offsetof(xlane_bind_key, proto) == 18);
static_assert(sizeof(xlane_steer_value) == 16);
static_assert(offsetof(xlane_steer_value, owner_start_time) == 8);
static_assert(sizeof(xlane_counter) == 16);
static_assert(XLANE_REASON_COUNT == 9, "reasons are append-only: update the tool's names too");

// Loopback path.
static_assert(sizeof(xlane_lb_key) == 40);
static_assert(offsetof(xlane_lb_key, remote_addr) == 16);
static_assert(offsetof(xlane_lb_key, local_port) == 32);
static_assert(offsetof(xlane_lb_key, remote_port) == 34);
static_assert(sizeof(xlane_lb_config) == 32);
static_assert(offsetof(xlane_lb_config, insert) == 8);
static_assert(offsetof(xlane_lb_config, pass_all) == 12);
static_assert(offsetof(xlane_lb_config, port_filter) == 16);
static_assert(offsetof(xlane_lb_config, stream_small) == 20);
static_assert(offsetof(xlane_lb_config, stream_run) == 24);
static_assert(sizeof(xlane_lb_sock_state) == 16);
static_assert(offsetof(xlane_lb_config, spin_reads) == 28);
static_assert(sizeof(xlane_lb_flow_state) == 28);
static_assert(offsetof(xlane_lb_flow_state, received) == 4);
static_assert(offsetof(xlane_lb_flow_state, leaving) == 8);
static_assert(offsetof(xlane_lb_flow_state, on_tcp) == 24);
static_assert(XLANE_LB_COUNTER_COUNT == 13, "loopback counters are append-only: update the tool");
