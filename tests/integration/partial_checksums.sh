#!/usr/bin/env bash
# The fast path against a kernel peer that keeps a veth's default offloads.
# With transmit checksumming on (a veth's default, and every container's), a
# sender's kernel leaves the UDP/TCP checksum to offload: the frame crosses
# the veth with only the pseudo-header sum in its checksum field
# (CHECKSUM_PARTIAL), and AF_XDP hands it over so. Until 2026-12-05 the
# engine dropped each such frame as corrupt: no datagram and no TCP
# handshake from a local kernel sender ever reached a preloaded program.
# The other tests switch these offloads off (tests/integration/lib.sh);
# this one switches them back on at A and checks, xlane attached at B
# (native mode):
#   1. UDP, IPv4 and IPv6: a plain python3 client at A gets every datagram
#      (0 to 3000 bytes) echoed by a preloaded server at B
#   2. TCP, IPv4 and IPv6: 3 MB echoed by a preloaded server at B to a plain
#      client at A, and by a plain server at A to a preloaded client at B
# each with the XDP redirect counter of B's interface moved (the fast path
# carried it) and no frame the engine called bad.
#
#   partial_checksums.sh LIBXLANE XLANE_BINARY
LIBXLANE="${1:?usage: partial_checksums.sh LIBXLANE XLANE_BINARY}"
XLANE="${2:?usage: partial_checksums.sh LIBXLANE XLANE_BINARY}"
XL_TAG=pcs
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"
xl_require_root
xl_preload_test_setup
mountpoint -q /sys/fs/bpf || mount -t bpf bpffs /sys/fs/bpf || xl_fail "cannot mount bpffs"

xl_make_hosts
# Back to a veth's defaults at A, and make sure they hold.
xl_in "$XL_NS_A" ethtool -K "$XL_IF_A" tx on tso on gso on >/dev/null ||
    xl_fail "cannot switch the offloads of $XL_IF_A back on"
xl_in "$XL_NS_A" ethtool -k "$XL_IF_A" | grep -q '^tx-checksumming: on' ||
    xl_fail "$XL_IF_A does not checksum by offload: $(xl_in "$XL_NS_A" ethtool -k "$XL_IF_A" | head -3)"

netns_id="netns-$(stat -L -c %i "/run/netns/$XL_NS_B")"
xl_on_exit "rm -rf '/sys/fs/bpf/xlane/$netns_id' '/run/xlane/$netns_id'"
xl_on_exit "xl_in $XL_NS_B '$XLANE' detach $XL_IF_B >/dev/null 2>&1"
xl_in "$XL_NS_B" "$XLANE" attach "$XL_IF_B" >/dev/null || xl_fail "xlane attach $XL_IF_B failed"
PIDS=()
xl_on_exit 'for p in "${PIDS[@]}"; do kill -9 $p 2>/dev/null; done'

# A program at B under libxlane.so, with a log per process.
preloaded_b() {
    xl_in "$XL_NS_B" env LD_PRELOAD="$LIBXLANE" XLANE_TEST_EXPECT_PRELOAD=1 XLANE_TCP=1 \
        XLANE_CONFIG=/dev/null XLANE_LOG_FILE="$work/xlane-%p.log" "$@"
}
# Frames the XDP program redirected to AF_XDP on B's interface so far.
redirected_b() {
    xl_in "$XL_NS_B" "$XLANE" status --json | "$PY" -c '
import json, sys
c = [a["counters"] for a in json.load(sys.stdin)["attachments"] if a["interface"] == sys.argv[1]][0]
print(c["redirect_flow"]["packets"] + c["redirect_bind"]["packets"])' "$XL_IF_B" ||
        xl_fail "xlane status --json failed"
}
logs() {
    local f
    for f in "$work"/xlane-*.log "$work"/*.out; do
        [ -s "$f" ] && printf '\n--- %s\n%s' "$(basename "$f")" "$(tail -8 "$f")"
    done
}
# The per-process statistics of a running preloaded program: nothing
# dropped as a bad frame (a checksum that did not add up).
expect_no_bad_frames() {  # expect_no_bad_frames PID WHAT
    local stats
    stats="$(xl_in "$XL_NS_B" "$XLANE" stats --pid "$1" 2>&1)"
    grep -q "port $XL_IF_B:" <<<"$stats" || xl_fail "$2: no statistics of pid $1: $stats"
    grep -q ' 0 bad,' <<<"$stats" || xl_fail "$2: the engine dropped frames as bad: $stats"
}
wait_listening() {  # wait_listening FILE WHAT
    xl_wait_for 100 grep -q listening "$1" || xl_fail "$2: the server never listened$(logs)"
}

# 1. UDP echo at B, plain client at A.
for addr in "$XL_ADDR_B" "$XL_ADDR6_B"; do
    before="$(redirected_b)"
    rm -f "$work/ready"
    preloaded_b "$PY" "$HERE/udp_apps.py" echo "$addr" 7300 "$work/ready" >"$work/udp.out" 2>&1 &
    PIDS+=($!)
    xl_wait_for 100 test -f "$work/ready" || xl_fail "UDP $addr: the echo server never started$(logs)"
    server="$(cat "$work/ready")"
    xl_in "$XL_NS_A" timeout 60 "$PY" "$HERE/udp_apps.py" ping "$addr" 7300 40 >"$work/ping.out" 2>&1 ||
        xl_fail "UDP $addr: a kernel sender with checksum offload lost datagrams: $(cat "$work/ping.out")$(logs)"
    moved=$(($(redirected_b) - before))
    # Sizes cycle over 7 values (udp_apps.py SIZES); fragments are left to
    # the kernel by the XDP program: the 5 of 3000 bytes, and over IPv6 also
    # the 5 of 1472 (1520 bytes with the header, above the MTU).
    [[ "$addr" == *:* ]] && expected=30 || expected=35
    [ "$moved" -ge $expected ] || xl_fail "UDP $addr: only $moved frames took the fast path at B$(logs)"
    expect_no_bad_frames "$server" "UDP $addr"
    kill "$server" 2>/dev/null
    xl_log "ok: UDP $addr: 40 datagrams from a sender with checksum offload, echoed by the fast path ($moved frames)"
done

# 2. TCP, 3 MB each way, the preloaded end at B as server, then as client.
SIZE=3000000
for addr in "$XL_ADDR_B" "$XL_ADDR6_B"; do
    before="$(redirected_b)"
    preloaded_b "$PY" "$HERE/tcp_apps.py" server "$addr" 7301 1 >"$work/server.out" 2>&1 &
    PIDS+=($!)
    server=$!
    wait_listening "$work/server.out" "TCP $addr"
    xl_in "$XL_NS_A" timeout 60 "$PY" "$HERE/tcp_apps.py" client "$addr" 7301 $SIZE >"$work/client.out" 2>&1 ||
        xl_fail "TCP $addr: a kernel client with checksum offload failed: $(cat "$work/client.out")$(logs)"
    wait "$server" || xl_fail "TCP $addr: the preloaded server failed: $(cat "$work/server.out")$(logs)"
    moved=$(($(redirected_b) - before))
    [ "$moved" -ge 100 ] || xl_fail "TCP $addr: only $moved frames took the fast path at B$(logs)"
    xl_log "ok: TCP $addr: $SIZE bytes from a kernel client with checksum offload, echoed by a preloaded server ($moved frames)"
done
for server_addr in "$XL_ADDR_A" "$XL_ADDR6_A"; do
    before="$(redirected_b)"
    xl_in "$XL_NS_A" "$PY" "$HERE/tcp_apps.py" server "$server_addr" 7302 1 >"$work/server.out" 2>&1 &
    PIDS+=($!)
    server=$!
    wait_listening "$work/server.out" "TCP $server_addr"
    preloaded_b timeout 60 "$PY" "$HERE/tcp_apps.py" client "$server_addr" 7302 $SIZE >"$work/client.out" 2>&1 ||
        xl_fail "TCP $server_addr: a preloaded client of a kernel server with checksum offload failed: $(cat "$work/client.out")$(logs)"
    wait "$server" || xl_fail "TCP $server_addr: the kernel server failed: $(cat "$work/server.out")"
    moved=$(($(redirected_b) - before))
    [ "$moved" -ge 100 ] || xl_fail "TCP $server_addr: only $moved frames took the fast path at B$(logs)"
    xl_log "ok: TCP $server_addr: $SIZE bytes echoed by a kernel server with checksum offload to a preloaded client ($moved frames)"
done
xl_log "PASS"
