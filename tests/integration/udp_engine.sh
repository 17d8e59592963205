#!/usr/bin/env bash
# Hosts for udp_engine_test: namespaces A and B on a 2-queue veth pair, xlane
# attached on B, then the test's "[hosts]" cases run inside B (nsenter --net,
# so the host's bpffs stays visible) with A as the kernel UDP peer.
#
#   udp_engine.sh UDP_ENGINE_TEST_BINARY XLANE_BINARY
TEST_BIN="${1:?usage: udp_engine.sh UDP_ENGINE_TEST_BINARY XLANE_BINARY}"
XLANE="${2:?usage: udp_engine.sh UDP_ENGINE_TEST_BINARY XLANE_BINARY}"
XL_TAG=udpe
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"
xl_require_root

# Two RX queues: the peer's flows hash onto either, so every queue needs its socket.
xl_make_hosts numtxqueues 2 numrxqueues 2
xl_attach_xlane "$XLANE" "$XL_NS_B" "$XL_IF_B"
XL_ENGINE_IFACE="$XL_IF_B" XL_ENGINE_PEER_NETNS="/run/netns/$XL_NS_A" \
    xl_in "$XL_NS_B" timeout 240 "$TEST_BIN" "[hosts]" ||
    xl_fail "udp_engine_test [hosts] failed in $XL_NS_B"
xl_log "ok: UDP engine cases passed against the kernel peer"
