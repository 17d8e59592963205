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
NETNS_ID="netns-$(stat -L -c %i "/run/netns/$XL_NS_B")"
DIR_B="/sys/fs/bpf/xlane/$NETNS_ID/$XL_IF_B"
xl_on_exit "rm -rf '$DIR_B'; rmdir '$(dirname "$DIR_B")'"
xl_on_exit "xl_in $XL_NS_B '$XLANE' detach $XL_IF_B"
# The engine's interface locks (/run/xlane/<netns-id>/<ifname>.lock).
xl_on_exit "rm -rf '/run/xlane/$NETNS_ID'"

xl_in "$XL_NS_B" "$XLANE" attach "$XL_IF_B" || xl_fail "xlane attach $XL_IF_B failed"
XL_ENGINE_IFACE="$XL_IF_B" XL_ENGINE_PEER_NETNS="/run/netns/$XL_NS_A" \
    xl_in "$XL_NS_B" timeout 240 "$TEST_BIN" "[hosts]" ||
    xl_fail "udp_engine_test [hosts] failed in $XL_NS_B"
xl_log "ok: UDP engine cases passed against the kernel peer"
