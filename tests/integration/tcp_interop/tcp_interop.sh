#!/usr/bin/env bash
# xlane's user-space TCP (TcpConnection over an AF_PACKET socket in netns A,
# address 198.18.0.3 that A's kernel does not own) against the Linux kernel's
# TCP in netns B: connect and accept, 1 MB each way checksummed, close
# handshakes from both sides, RST from a closed port -> ECONNREFUSED, and a
# transfer with 1% injected loss + duplication on our side.
#
#   tcp_interop.sh DRIVER
. "$(dirname "$0")/../lib.sh"
XL_TAG=tcp
DRIVER="$1"
PEER="$(dirname "$0")/kernel_peer.py"
[ -x "$DRIVER" ] || xl_fail "usage: $0 tcp_interop_driver"
xl_require_root
xl_make_hosts

OUR_IP=198.18.0.3  # not configured on A: A's kernel stays silent for it
OUR_IP6=fd00:198:18::3
# /sys is the host's under nsenter --net: ask ip(8) inside the namespace.
MAC_A=$(ip -n "$XL_NS_A" -o link show dev "$XL_IF_A" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
MAC_B=$(ip -n "$XL_NS_B" -o link show dev "$XL_IF_B" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
[ -n "$MAC_A" ] && [ -n "$MAC_B" ] || xl_fail "cannot read the veth MAC addresses"
# B reaches OUR_IP at A's MAC without ARP (nobody would answer it).
ip -n "$XL_NS_B" neigh replace "$OUR_IP" lladdr "$MAC_A" dev "$XL_IF_B" nud permanent \
    || xl_fail "cannot add the static neighbour"
ip -n "$XL_NS_B" -6 neigh replace "$OUR_IP6" lladdr "$MAC_A" dev "$XL_IF_B" nud permanent \
    || xl_fail "cannot add the static IPv6 neighbour"
# GRO would merge B's segments before AF_PACKET sees them on A: keep frames as sent.
xl_in "$XL_NS_A" ethtool -K "$XL_IF_A" gro off >/dev/null 2>&1 || true
BYTES=${XLANE_TCP_INTEROP_BYTES:-$((1024 * 1024))}
WORK=$(mktemp -d /tmp/xl-tcp-interop.XXXXXX)
xl_on_exit "rm -rf $WORK"

FAMILY=4  # run_* use IPv4 unless FAMILY=6
ours() { [ "$FAMILY" = 6 ] && echo "$OUR_IP6" || echo "$OUR_IP"; }
theirs() { [ "$FAMILY" = 6 ] && echo "$XL_ADDR6_B" || echo "$XL_ADDR_B"; }

driver() {  # driver MODE PORT [options...]
    local mode="$1" port="$2"
    shift 2
    xl_in "$XL_NS_A" timeout 90 "$DRIVER" "$XL_IF_A" "$MAC_A" "$MAC_B" "$(ours)" "$(theirs)" \
        "$mode" "$port" --bytes "$BYTES" "$@"
}

field() { sed -n "s/.*RESULT.* $2=\([^ ]*\).*/\1/p" "$1"; }

# Crossed check: what one side sent is what the other received, byte count and CRC.
compare() {  # compare NAME OURS THEIRS
    local name="$1" ours="$2" theirs="$3"
    for pair in "sent received" "received sent" "sent_crc received_crc" "received_crc sent_crc"; do
        set -- $pair
        local a b
        a=$(field "$ours" "$1")
        b=$(field "$theirs" "$2")
        [ -n "$a" ] && [ "$a" = "$b" ] || xl_fail "$name: xlane $1=$a but kernel $2=$b"
    done
    [ "$(field "$ours" sent)" = "$BYTES" ] || xl_fail "$name: sent $(field "$ours" sent) of $BYTES"
    xl_log "$name: OK ($(grep '^INFO' "$ours"))"
}

start_peer() {  # start_peer NAME MODE PORT NBYTES: kernel listener in B, waits until it listens
    local name="$1" mode="$2" port="$3" nbytes="$4"
    xl_in "$XL_NS_B" timeout 90 python3 "$PEER" "$mode" "$(theirs)" "$port" "$nbytes" \
        >"$WORK/$name.kernel" 2>&1 &
    PEER_PID=$!
    xl_wait_for 50 sh -c "nsenter --net=/run/netns/$XL_NS_B ss -Hltn 'sport = :$port' | grep -q LISTEN" \
        || xl_fail "$name: kernel server never listened"
}

run_connect() {  # run_connect NAME PEER_MODE PORT [driver options...]
    local name="$1" mode="$2" port="$3"
    shift 3
    start_peer "$name" "$mode" "$port" "$BYTES"
    driver connect "$port" "$@" >"$WORK/$name.xlane" 2>&1 \
        || { cat "$WORK/$name.xlane" >&2; xl_fail "$name: xlane side failed"; }
    wait "$PEER_PID" || { cat "$WORK/$name.kernel" >&2; xl_fail "$name: kernel side failed"; }
    grep -q "state=TIME-WAIT" "$WORK/$name.xlane" || xl_fail "$name: active close did not end in TIME-WAIT"
    compare "$name" "$WORK/$name.xlane" "$WORK/$name.kernel"
}

# 1. We connect to a kernel server; we close first (FIN-WAIT-1/2 -> TIME-WAIT).
run_connect connect server 7001
# 2. A kernel client connects to us; it closes first (CLOSE-WAIT -> LAST-ACK -> CLOSED).
run_accept() {  # run_accept NAME PORT
    local name="$1" port="$2"
    driver accept "$port" >"$WORK/$name.xlane" 2>&1 &
    local driver_pid=$!
    xl_wait_for 50 grep -q listening "$WORK/$name.xlane" || xl_fail "$name: driver never listened"
    xl_in "$XL_NS_B" timeout 90 python3 "$PEER" client "$(ours)" "$port" "$BYTES" \
        >"$WORK/$name.kernel" 2>&1 || { cat "$WORK/$name.kernel" >&2; xl_fail "$name: kernel client failed"; }
    wait "$driver_pid" || { cat "$WORK/$name.xlane" >&2; xl_fail "$name: xlane side failed"; }
    grep -q "state=CLOSED" "$WORK/$name.xlane" || xl_fail "$name: passive close did not end CLOSED"
    compare "$name" "$WORK/$name.xlane" "$WORK/$name.kernel"
}
run_accept accept 7002
# 3. SYN to a port nobody listens on: the kernel's RST gives ECONNREFUSED.
driver refused 7003 >"$WORK/refused.xlane" 2>&1 \
    || { cat "$WORK/refused.xlane" >&2; xl_fail "refused: expected ECONNREFUSED"; }
grep -q "error=Connection refused" "$WORK/refused.xlane" || xl_fail "refused: wrong error"
xl_log "refused: OK"
# 4. Loss, duplication and reordering (5 ms hold-back) on our side of the
#    wire, both directions, both congestion controls.
run_connect lossy-cubic server 7004 --drop 0.01 --dup 0.01 --reorder 0.02 --seed 3 --cc cubic
run_connect lossy-newreno server 7005 --drop 0.01 --dup 0.01 --reorder 0.02 --seed 2 --cc newreno
for run in lossy-cubic lossy-newreno; do
    grep -Eq "total_retrans=[1-9]" "$WORK/$run.xlane" || xl_fail "$run: our losses were never retransmitted"
done
# 5. A SYN offering none of SACK, timestamps, window scaling (NewReno on
#    duplicate ACKs, Karn's RTT timing), under loss.
run_connect no-options server 7006 --no-sack --no-timestamps --no-wscale --drop 0.01 --seed 4
grep -q "sack=0 ts=0 wscale=0/0" "$WORK/no-options.xlane" || xl_fail "no-options: options negotiated anyway"
# 6. The kernel stops reading for 2 s: its window closes, we probe, it reopens.
run_connect zero-window slow 7007
grep -Eq "zero_window_probes=[1-9]" "$WORK/zero-window.xlane" || xl_fail "zero-window: no window probes"
# 6b. Keepalive probes (SEQ = SND.UNA - 1) answered by Linux keep an idle
#     connection alive: 10 kB fit the kernel's buffer, then 2 s of silence.
BYTES=10000 run_connect keepalive slow 7012 --keepalive-ms 400
grep -Eq "keepalive_probes=[2-9]" "$WORK/keepalive.xlane" || xl_fail "keepalive: no probes were answered"
# 7. The kernel resets an established connection (close with unread data + SO_LINGER 0).
start_peer kernel-reset reset 7008 100000
driver connect 7008 --expect-error econnreset >"$WORK/kernel-reset.xlane" 2>&1 \
    || { cat "$WORK/kernel-reset.xlane" >&2; xl_fail "kernel-reset: expected ECONNRESET"; }
wait "$PEER_PID" || xl_fail "kernel-reset: kernel side failed"
xl_log "kernel-reset: OK ($(grep '^RESULT' "$WORK/kernel-reset.xlane"))"
# 8. We reset: the kernel application sees ECONNRESET (our RST is acceptable to Linux).
start_peer our-reset expect-reset 7009 0
driver abort 7009 --bytes 100000 >"$WORK/our-reset.xlane" 2>&1 \
    || { cat "$WORK/our-reset.xlane" >&2; xl_fail "our-reset: driver failed"; }
wait "$PEER_PID" || { cat "$WORK/our-reset.kernel" >&2; xl_fail "our-reset: kernel side failed"; }
grep -q '^RESET' "$WORK/our-reset.kernel" || xl_fail "our-reset: the kernel never saw our RST"
xl_log "our-reset: OK"
# 9. The same over IPv6 (MSS from the IPv6 header size).
FAMILY=6
run_connect connect-v6 server 7010
run_accept accept-v6 7011
grep -q "mss=1428" "$WORK/connect-v6.xlane" || xl_fail "connect-v6: MSS is not 1500 - 40 - 20 - 12"
FAMILY=4
xl_log "all TCP interop checks passed"
