#!/usr/bin/env bash
# Threads under libxlane.so (issue 7), run by ctest on the normal build and by
# scripts/sanitize on the ASan+UBSan and TSan builds (the probe and the
# library are then both instrumented; the sanitizer runtime is preloaded
# first so it sees every call):
#   tcp: thread_probe's 8-thread epoll echo server on host B (per-thread epoll
#        sets, one shared set nested in each, EPOLLEXCLUSIVE listener,
#        EPOLLONESHOT connections and an accelerated UDP socket in it) and
#        1,000 concurrent connections from 8 client threads on host A, both
#        preloaded with the TCP fast path on (XLANE_TCP=1): the run exercises
#        the user-space TCP, the fd tables, the epoll registry and the
#        interposition under threads (a closed connection's registration once
#        outlived its fd there, handing a freed pointer to the next
#        epoll_wait; TSan found the stats table reading a socket's dup count
#        outside its lock while another thread closed the socket's other
#        fd). Both hosts have xlane attached, so the UDP sockets in the same
#        processes are accelerated too.
#   udp: 6 sender threads on host A (preloaded, xlane attached), each on its
#        own socket and on one shared socket, over the fast path to a kernel
#        receiver on B that checks every datagram; every datagram is either
#        received intact or counted by B's kernel as a receive-buffer drop.
# Over a veth pair between two namespaces rather than loopback: that is the
# only way the UDP sockets are on the fast path (AF_XDP needs an interface
# with xlane attached), and the TCP traffic then crosses a real link too.
#   threads.sh tcp|udp XLANE LIBXLANE THREAD_PROBE
MODE="${1:?usage: threads.sh tcp|udp XLANE LIBXLANE THREAD_PROBE}"
XLANE="${2:?usage}"
LIB="${3:?usage}"
PROBE="${4:?usage}"
XL_TAG=thr
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib.sh"
xl_require_root

WORK="$(mktemp -d /tmp/xl-thr-$$.XXXXXX)"
xl_on_exit "rm -rf '$WORK'"
xl_make_hosts
xl_attach_xlane "$XLANE" "$XL_NS_A" "$XL_IF_A"
xl_attach_xlane "$XLANE" "$XL_NS_B" "$XL_IF_B"

# An ASan build of libxlane.so needs the ASan runtime loaded first (ASan
# checks). A TSan runtime must come after libxlane.so (it does, as a
# dependency of both): the wrappers then run outside TSan's interceptors,
# whose blocking-call regions make TSan ignore the atomics our locks are made
# of (every access under such a lock would be reported as a race).
preload="$LIB"
runtime="$(ldd "$LIB" | awk '/libasan\.so/ {print $3; exit}')"
[ -z "$runtime" ] || preload="$runtime:$LIB"
xl_log "LD_PRELOAD=$preload"

# run_in NS PRELOAD(yes|no) OUT ARGS...: the probe in NS, bounded in time.
run_in() {
    local ns="$1" with="$2" out="$3"
    shift 3
    if [ "$with" = yes ]; then
        nsenter --net="/run/netns/$ns" env LD_PRELOAD="$preload" XLANE_TCP=1 \
            XLANE_STATS_FILE="$WORK/summary.%p.jsonl" timeout 85 "$PROBE" "$@" >"$out" 2>&1
    else
        nsenter --net="/run/netns/$ns" timeout 85 "$PROBE" "$@" >"$out" 2>&1
    fi
}

wait_ready() {  # PID OUT
    for _ in $(seq 300); do
        grep -q '^ready' "$2" 2>/dev/null && return 0
        kill -0 "$1" 2>/dev/null || xl_fail "probe died before ready: $(cat "$2")"
        sleep 0.1
    done
    xl_fail "probe never became ready: $(cat "$2")"
}

# The XLANE_STATS_FILE lines of every preloaded process, as one JSON list.
summaries() {
    cat "$WORK"/summary.*.jsonl 2>/dev/null | python3 -c 'import json,sys; print(json.dumps([json.loads(l) for l in sys.stdin]))'
}

start=$SECONDS
case "$MODE" in
tcp)
    run_in "$XL_NS_B" yes "$WORK/server.out" tcp-server 7500 8 1000 8 &
    server=$!
    xl_on_exit "kill -9 $server"
    wait_ready "$server" "$WORK/server.out"
    clients_ok=yes
    run_in "$XL_NS_A" yes "$WORK/clients.out" tcp-clients 7500 8 1000 || clients_ok=no
    # The server ends by itself (all served, or its deadline): its summary
    # (accepted, frames, events per set) says which side stalled.
    server_ok=yes
    wait "$server" || server_ok=no
    [ "$clients_ok" = yes ] && [ "$server_ok" = yes ] \
        || xl_fail "clients ok: $clients_ok, server ok: $server_ok
clients: $(cat "$WORK/clients.out")
server: $(cat "$WORK/server.out")"
    cat "$WORK/clients.out" "$WORK/server.out" >&2
    grep -q '^served 1000 connections (max 1000 open at once, 1000 closed), 3000 frames, 0 bad' \
        "$WORK/server.out" || xl_fail "server summary"
    summaries | python3 -c '
import json, sys
lines = json.load(sys.stdin)
udp = [l for l in lines if l["proto"] == "udp"]
tcp = [l for l in lines if l["proto"] == "tcp"]
# 1000 client and 1000 server connections and the listener, each summarised once.
assert len(tcp) == 2001, len(tcp)
# The server socket and the 8 notice sockets: on the fast path, and they moved data.
assert len(udp) == 9, udp
assert all(l["path"] == "fast" for l in udp), udp
assert sum(l["tx_packets"] for l in udp) == 8 and sum(l["rx_packets"] for l in udp) == 8, udp
print("stats file: %d tcp sockets, %d udp sockets on the fast path" % (len(tcp), len(udp)))
' || xl_fail "XLANE_STATS_FILE summaries"
    ;;
udp)
    threads=6 count=2000
    expected=$((threads * count * 2))
    drops_before="$(nsenter --net="/run/netns/$XL_NS_B" awk '/^Udp: [0-9]/ {print $6}' /proc/net/snmp)"
    run_in "$XL_NS_B" no "$WORK/receiver.out" udp-receiver 7600 "$expected" &
    receiver=$!
    xl_on_exit "kill -9 $receiver"
    wait_ready "$receiver" "$WORK/receiver.out"
    run_in "$XL_NS_A" yes "$WORK/senders.out" udp-senders 7600 "$threads" "$count" \
        || xl_fail "senders failed: $(cat "$WORK/senders.out")"
    wait "$receiver" || xl_fail "receiver failed: $(cat "$WORK/receiver.out")"
    drops_after="$(nsenter --net="/run/netns/$XL_NS_B" awk '/^Udp: [0-9]/ {print $6}' /proc/net/snmp)"
    cat "$WORK/senders.out" "$WORK/receiver.out" >&2
    grep -q "^sent $expected failed 0\$" "$WORK/senders.out" || xl_fail "not all datagrams were sent"
    received="$(sed -n 's/^received \([0-9]*\) bad 0 duplicates 0$/\1/p' "$WORK/receiver.out")"
    [ -n "$received" ] || xl_fail "the receiver found bad or duplicate datagrams"
    dropped=$((drops_after - drops_before))
    xl_log "udp: sent $expected, received $received, receive-buffer drops on B $dropped"
    [ $((received + dropped)) -eq "$expected" ] || xl_fail "datagrams unaccounted for"
    [ "$received" -ge $((expected / 2)) ] || xl_fail "fewer than half arrived"
    summaries | python3 -c '
import json, sys
lines = json.load(sys.stdin)
expected = int(sys.argv[1])
udp = [l for l in lines if l["proto"] == "udp"]
assert len(udp) == 7, udp  # 6 own sockets and the shared one
assert all(l["path"] == "fast" for l in udp), udp
assert sum(l["tx_packets"] for l in udp) == expected, udp
assert sum(l["tx_drops"] for l in udp) == 0, udp
print("stats file: 7 udp sockets on the fast path, %d datagrams sent" % expected)
' "$expected" || xl_fail "XLANE_STATS_FILE summaries"
    ;;
*) xl_fail "unknown mode $MODE" ;;
esac
xl_log "PASS ($MODE, $((SECONDS - start)) s)"
