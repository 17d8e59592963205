#!/usr/bin/env bash
# Hosts for tcp_engine_test: namespaces A and B on a 2-queue veth pair, xlane
# attached on B, then the test's "[hosts]" cases run inside B (nsenter --net,
# so the host's bpffs stays visible) with A's kernel TCP as the peer: once
# clean, then the transfer cases three times with the TCP test hook's faults
# (1%, 2%, 5% loss plus duplication and reordering) on the engine's side.
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
# XL_ENGINE_PEER_IFACE: A's end, whose address the keepalive case takes
# away for a moment (and puts back).
XL_ENGINE_IFACE="$XL_IF_B" XL_ENGINE_PEER_NETNS="/run/netns/$XL_NS_A" \
XL_ENGINE_PEER_IFACE="$XL_IF_A" \
    xl_in "$XL_NS_B" timeout 80 "$TEST_BIN" "[hosts]" ||
    xl_fail "tcp_engine_test [hosts] failed in $XL_NS_B"
xl_log "ok: TCP engine cases passed against the kernel peer"
# The transfers again under the test hook's faults on the engine's side of
# the wire (a reordered segment is held back 5 ms): 1%, 2% and 5% loss with
# some duplication and reordering; at 5% without the 3 MB transfers, which
# would spend most of the time budget waiting out RTOs.
for faults in "drop=0.01,dup=0.005,reorder=0.01,seed=5;" \
              "drop=0.02,dup=0.01,reorder=0.02,seed=7;" \
              "drop=0.05,dup=0.01,reorder=0.01,seed=9;100000"; do
    XLANE_TCP_FAULTS="${faults%%;*}" XL_ENGINE_TRANSFER_MAX="${faults#*;}" \
    XL_ENGINE_IFACE="$XL_IF_B" XL_ENGINE_PEER_NETNS="/run/netns/$XL_NS_A" \
        xl_in "$XL_NS_B" timeout 40 "$TEST_BIN" "client*,server*" ||
        xl_fail "tcp_engine_test transfers under faults ${faults%%;*} failed in $XL_NS_B"
    xl_log "ok: TCP engine transfers passed under faults ${faults%%;*}"
done
