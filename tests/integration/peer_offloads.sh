#!/usr/bin/env bash
# The fast path against a kernel peer on a veth as Linux makes it: transmit
# checksumming, TSO and GSO on, at MTU 1500 and at 9000, with xlane attached
# at B in native and in generic (skb) mode.
# - With checksum offload, a sender's kernel leaves the UDP/TCP checksum to
#   the device: the frame crosses the veth with only the pseudo-header sum
#   in its checksum field (CHECKSUM_PARTIAL), and AF_XDP hands it over so.
#   Until 2026-12-05 the engine dropped each such frame as corrupt: no
#   datagram and no TCP handshake from a local kernel sender reached a
#   preloaded program.
# - Frames larger than a 4 KB UMEM frame: in skb mode the peer's TSO
#   segments (up to 64 KB) reach XDP whole, and at MTU 9000 so do jumbo
#   frames in both modes. Until 2026-12-05 the AF_XDP socket dropped them
#   (no XDP_USE_SG), and a native attachment at MTU 9000 failed (ERANGE: the
#   program was not multi-buffer; now it is loaded so there, and only there);
#   a fast TCP client at MTU 9000 sent segments no UMEM frame could hold,
#   and nothing went out.
# The other tests switch these offloads off (tests/integration/lib.sh).
# For each MTU and mode:
#   1. UDP, IPv4 and IPv6: a plain python3 client at A gets every datagram
#      (0 bytes up to the largest the MTU carries unfragmented, and 3000 at
#      MTU 1500, which is fragmented) echoed by a preloaded server at B
#   2. TCP, IPv4 and IPv6: 3 MB echoed by a preloaded server at B to a plain
#      client at A, and by a plain server at A to a preloaded client at B
# each with the XDP redirect counter of B's interface moved by what the fast
# path must have carried, and no frame the engine called bad.
#
#   peer_offloads.sh LIBXLANE XLANE_BINARY
LIBXLANE="${1:?usage: peer_offloads.sh LIBXLANE XLANE_BINARY}"
XLANE="${2:?usage: peer_offloads.sh LIBXLANE XLANE_BINARY}"
XL_TAG=pof
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
# port_counter PID NAME: a counter of B's interface in PID's published
# statistics (rx_joined: multi-buffer frames; rx_partial_checksum).
port_counter() {
    xl_in "$XL_NS_B" "$XLANE" stats --pid "$1" --json | "$PY" -c '
import json, sys
ports = [i for p in json.load(sys.stdin)["processes"] for i in p["interfaces"]
         if i["interface"] == sys.argv[1]]
print(ports[0][sys.argv[2]] if ports else -1)' "$XL_IF_B" "$2" || xl_fail "xlane stats --json failed"
}
counter_positive() { [ "$(port_counter "$1" "$2")" -gt 0 ]; }
# Nothing dropped as a bad frame (a checksum that did not add up, or malformed).
expect_no_bad_frames() {  # expect_no_bad_frames PID WHAT
    local bad
    bad="$(port_counter "$1" rx_dropped_bad)"
    [ "$bad" = 0 ] || xl_fail "$2: the engine dropped $bad frames as bad (-1: no statistics of pid $1)"
}
wait_listening() {  # wait_listening FILE WHAT
    xl_wait_for 100 grep -q listening "$1" || xl_fail "$2: the server never listened$(logs)"
}

# 1. UDP echo at B, plain client at A: udp_ping MTU ADDR.
udp_ping() {
    local mtu="$1" addr="$2" sizes expected before server moved
    if [ "$mtu" = 1500 ]; then
        # udp_apps.py's default sizes (0 to 3000) cycle over 7 values;
        # fragments are left to the kernel by the XDP program: the 5 of
        # 3000 bytes, and over IPv6 also the 5 of 1472 (1520 with the header).
        sizes=0,1,64,512,1400,1472,3000
        [[ "$addr" == *:* ]] && expected=30 || expected=35
    else
        # Up to the largest unfragmented datagram: all 40 on the fast path.
        [[ "$addr" == *:* ]] && sizes=0,1,1472,3000,4000,8000,8952 || sizes=0,1,1472,3000,4000,8000,8972
        expected=40
    fi
    before="$(redirected_b)"
    rm -f "$work/ready"
    preloaded_b "$PY" "$HERE/udp_apps.py" echo "$addr" 7300 "$work/ready" >"$work/udp.out" 2>&1 &
    PIDS+=($!)
    xl_wait_for 100 test -f "$work/ready" || xl_fail "UDP $addr: the echo server never started$(logs)"
    server="$(cat "$work/ready")"
    xl_in "$XL_NS_A" timeout 60 "$PY" "$HERE/udp_apps.py" ping "$addr" 7300 40 "$sizes" >"$work/ping.out" 2>&1 ||
        xl_fail "$WHAT, UDP $addr: datagrams were lost: $(cat "$work/ping.out")$(logs)"
    moved=$(($(redirected_b) - before))
    [ "$moved" -ge $expected ] || xl_fail "$WHAT, UDP $addr: only $moved frames took the fast path at B$(logs)"
    expect_no_bad_frames "$server" "$WHAT, UDP $addr"
    # What made it work: the sender's partial checksums at MTU 1500, and the
    # datagrams above a UMEM frame (4000 bytes and up) at MTU 9000. The
    # statistics are refreshed every 200 ms.
    local counter=rx_partial_checksum
    [ "$mtu" = 9000 ] && counter=rx_joined
    xl_wait_for 20 counter_positive "$server" "$counter" ||
        xl_fail "$WHAT, UDP $addr: the engine counted no $counter: $(port_counter "$server" "$counter")"
    local counted
    counted="$(port_counter "$server" "$counter")"
    kill "$server" 2>/dev/null
    wait "$server" 2>/dev/null
    xl_log "ok: $WHAT, UDP $addr: 40 datagrams ($sizes bytes) echoed by the fast path ($moved frames, $counter $counted)"
}

# 2. TCP, 3 MB each way, the preloaded end at B as server (tcp_to_b ADDR),
# then as client (tcp_from_b ADDR).
SIZE=3000000
tcp_to_b() {
    local addr="$1" before server moved
    before="$(redirected_b)"
    preloaded_b "$PY" "$HERE/tcp_apps.py" server "$addr" 7301 1 >"$work/server.out" 2>&1 &
    PIDS+=($!)
    server=$!
    wait_listening "$work/server.out" "TCP $addr"
    xl_in "$XL_NS_A" timeout 60 "$PY" "$HERE/tcp_apps.py" client "$addr" 7301 $SIZE >"$work/client.out" 2>&1 ||
        xl_fail "$WHAT, TCP $addr: the kernel client failed: $(cat "$work/client.out")$(logs)"
    wait "$server" || xl_fail "$WHAT, TCP $addr: the preloaded server failed: $(cat "$work/server.out")$(logs)"
    moved=$(($(redirected_b) - before))
    [ "$moved" -ge 100 ] || xl_fail "$WHAT, TCP $addr: only $moved frames took the fast path at B$(logs)"
    xl_log "ok: $WHAT, TCP $addr: $SIZE bytes from a kernel client, echoed by a preloaded server ($moved frames)"
}
tcp_from_b() {
    local server_addr="$1" before server moved
    before="$(redirected_b)"
    xl_in "$XL_NS_A" "$PY" "$HERE/tcp_apps.py" server "$server_addr" 7302 1 >"$work/server.out" 2>&1 &
    PIDS+=($!)
    server=$!
    wait_listening "$work/server.out" "TCP $server_addr"
    preloaded_b timeout 60 "$PY" "$HERE/tcp_apps.py" client "$server_addr" 7302 $SIZE >"$work/client.out" 2>&1 ||
        xl_fail "$WHAT, TCP $server_addr: the preloaded client failed: $(cat "$work/client.out")$(logs)"
    wait "$server" || xl_fail "$WHAT, TCP $server_addr: the kernel server failed: $(cat "$work/server.out")"
    moved=$(($(redirected_b) - before))
    [ "$moved" -ge 100 ] || xl_fail "$WHAT, TCP $server_addr: only $moved frames took the fast path at B$(logs)"
    xl_log "ok: $WHAT, TCP $server_addr: $SIZE bytes echoed by a kernel server to a preloaded client ($moved frames)"
}

for mtu in 1500 9000; do
    for ns_if in "$XL_NS_A $XL_IF_A" "$XL_NS_B $XL_IF_B"; do
        # shellcheck disable=SC2086 # "NS IF"
        xl_in ${ns_if% *} ip link set dev ${ns_if#* } mtu $mtu || xl_fail "cannot set MTU $mtu"
    done
    for mode in native skb; do
        WHAT="MTU $mtu, $mode mode"
        xl_in "$XL_NS_B" "$XLANE" attach "$XL_IF_B" --mode $mode >"$work/attach.out" 2>&1 ||
            xl_fail "$WHAT: xlane attach $XL_IF_B failed: $(cat "$work/attach.out")"
        # Multi-buffer only where the driver needs it (userspace/xdp/attach.cpp).
        if [ $mtu = 9000 ] && [ $mode = native ]; then
            grep -q "loaded multi-buffer" "$work/attach.out" ||
                xl_fail "$WHAT: the program was not loaded multi-buffer: $(cat "$work/attach.out")"
        elif grep -q "multi-buffer" "$work/attach.out"; then
            xl_fail "$WHAT: the program was loaded multi-buffer: $(cat "$work/attach.out")"
        fi
        for addr in "$XL_ADDR_B" "$XL_ADDR6_B"; do udp_ping $mtu "$addr"; done
        for addr in "$XL_ADDR_B" "$XL_ADDR6_B"; do tcp_to_b "$addr"; done
        for addr in "$XL_ADDR_A" "$XL_ADDR6_A"; do tcp_from_b "$addr"; done
        xl_in "$XL_NS_B" "$XLANE" detach "$XL_IF_B" >/dev/null || xl_fail "$WHAT: xlane detach failed"
    done
done

xl_log "PASS"
