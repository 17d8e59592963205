#!/usr/bin/env bash
# Hosts for tcp_engine_test: namespaces A and B on a 2-queue veth pair, xlane
# attached on B, then the test's "[hosts]" cases run inside B (nsenter --net,
# so the host's bpffs stays visible) with A's kernel TCP as the peer: once
# clean, once with the TCP test hook's faults (loss, duplication, reordering)
# on the engine's side of the wire.
#
#   tcp_engine.sh TCP_ENGINE_TEST_BINARY XLANE_BINARY
TEST_BIN="${1:?usage: tcp_engine.sh TCP_ENGINE_TEST_BINARY XLANE_BINARY}"
XLANE="${2:?usage: tcp_engine.sh TCP_ENGINE_TEST_BINARY XLANE_BINARY}"
XL_TAG=tcpe
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"
xl_require_root

xl_make_hosts numtxqueues 2 numrxqueues 2
xl_attach_xlane "$XLANE" "$XL_NS_B" "$XL_IF_B"
XL_ENGINE_IFACE="$XL_IF_B" XL_ENGINE_PEER_NETNS="/run/netns/$XL_NS_A" \
    xl_in "$XL_NS_B" timeout 120 "$TEST_BIN" "[hosts]" ||
    xl_fail "tcp_engine_test [hosts] failed in $XL_NS_B"
xl_log "ok: TCP engine cases passed against the kernel peer"
# The transfers again with 2% loss, 1% duplication, 2% reordering (5 ms).
XLANE_TCP_FAULTS="drop=0.02,dup=0.01,reorder=0.02,seed=7" \
XL_ENGINE_IFACE="$XL_IF_B" XL_ENGINE_PEER_NETNS="/run/netns/$XL_NS_A" \
    xl_in "$XL_NS_B" timeout 120 "$TEST_BIN" "client*,server*" ||
    xl_fail "tcp_engine_test transfers under injected faults failed in $XL_NS_B"
xl_log "ok: TCP engine transfers passed under injected faults"
