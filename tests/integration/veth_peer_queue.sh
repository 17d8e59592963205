#!/usr/bin/env bash
# The queue xlane gives a veth peer in front of a native XDP attachment
# (userspace/net/veth_peer.h): without one, what the peer sends beyond the
# 256 slots of the veth's XDP ring is dropped. Checks that `xlane attach`
# gives a queueless peer (in another namespace or in the same one) xlane's
# root qdisc, mq or pfifo_fast by its number of transmit queues, once; that a
# TCP load of 8 streams through the kernel path then loses no frame at the
# veth; that `xlane detach` removes that qdisc and only that one; and that a
# peer's own qdisc, --leave-peer and skb mode leave the peer as it was.
#
#   veth_peer_queue.sh XLANE_BINARY
XLANE="${1:?usage: veth_peer_queue.sh XLANE_BINARY}"
XL_TAG=vq
. "$(dirname "$0")/lib.sh"
xl_require_root

OUT="$(mktemp)"
ERR="$(mktemp)"
xl_on_exit "rm -f '$OUT' '$ERR'"

# xlane in a namespace; stdout in $OUT, stderr in $ERR; fails the test on error.
xlane_in() {
    local ns="$1"
    shift
    xl_in "$ns" "$XLANE" "$@" >"$OUT" 2>"$ERR" || xl_fail "xlane $* failed: $(cat "$OUT" "$ERR")"
}
# "KIND HANDLE" of the root qdisc of device $2 in namespace $1.
root_qdisc() {
    xl_in "$1" tc -j qdisc show dev "$2" root | python3 -c \
        'import json,sys; q=json.load(sys.stdin)[0]; print(q["kind"], q["handle"])'
}
expect_root() {
    local got
    got="$(root_qdisc "$1" "$2")"
    [ "$got" = "$3" ] || xl_fail "$4: root qdisc of $2 is '$got', expected '$3'"
}
tx_dropped() {
    xl_in "$1" ip -s -j link show dev "$2" | python3 -c \
        'import json,sys; print(json.load(sys.stdin)[0]["stats64"]["tx"]["dropped"])'
}

xl_make_hosts
PEER_NS="/run/netns/$XL_NS_A"
xl_on_exit "xl_in $XL_NS_B '$XLANE' detach $XL_IF_B >/dev/null 2>&1"
expect_root "$XL_NS_A" "$XL_IF_A" "noqueue 0:" "a new veth"

# 1. Attach in native mode: the peer in the other namespace gets mq (a veth has one transmit
# queue per possible CPU) with xlane's handle, and attach says so.
xlane_in "$XL_NS_B" attach --mode native "$XL_IF_B"
expect_root "$XL_NS_A" "$XL_IF_A" "mq 7861:" "after attach"
grep -q "gave the veth peer $XL_IF_A in namespace id [0-9]* ($PEER_NS) a queue (root qdisc mq, handle 7861:)" "$OUT" ||
    xl_fail "attach did not report the peer's queue: $(cat "$OUT")"
xl_log "ok: attach gave the peer $XL_IF_A mq 7861:"
# ...once: attaching again (auto: the mode xlane runs in) changes nothing.
xlane_in "$XL_NS_B" attach "$XL_IF_B"
! grep -q "gave the veth peer" "$OUT" || xl_fail "a second attach touched the peer again: $(cat "$OUT")"
expect_root "$XL_NS_A" "$XL_IF_A" "mq 7861:" "after a second attach"

# 2. Eight TCP streams from A into B's XDP ring (kernel path: XDP_PASS) for
# 2 s: the ring fills, and the peer's queue holds frames back instead of the
# veth dropping them (Linux 6.16 and later; earlier kernels drop regardless).
xl_in "$XL_NS_B" iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
SERVER=$!
xl_on_exit "kill $SERVER 2>/dev/null"
sleep 0.3
before="$(tx_dropped "$XL_NS_A" "$XL_IF_A")"
xl_in "$XL_NS_A" timeout 30 iperf3 -c "$XL_ADDR_B" -p 5201 -P 8 -t 2 >/dev/null ||
    xl_fail "iperf3 A -> B failed"
wait "$SERVER"
dropped=$(($(tx_dropped "$XL_NS_A" "$XL_IF_A") - before))
kernel="$(uname -r)"
if [ "$(printf '%s\n6.16\n' "${kernel%%-*}" | sort -V | head -1)" = 6.16 ]; then
    [ "$dropped" -eq 0 ] || xl_fail "the veth dropped $dropped frames of 8 TCP streams with the peer's queue"
    xl_log "ok: 8 TCP streams for 2 s, no frame dropped at the veth"
else
    xl_log "kernel $kernel has no veth backpressure (6.16): $dropped frames dropped, not asserted"
fi

# 3. Detach removes xlane's qdisc: the peer is queueless again.
xlane_in "$XL_NS_B" detach "$XL_IF_B"
grep -q "removed the queue xlane had given the veth peer $XL_IF_A" "$OUT" ||
    xl_fail "detach did not report the peer's queue: $(cat "$OUT")"
expect_root "$XL_NS_A" "$XL_IF_A" "noqueue 0:" "after detach"
xl_log "ok: detach removed it"

# 4. A queue of the peer's own is neither replaced by attach nor removed by detach.
xl_in "$XL_NS_A" tc qdisc add dev "$XL_IF_A" root handle 77: pfifo limit 500
xlane_in "$XL_NS_B" attach --mode native "$XL_IF_B"
expect_root "$XL_NS_A" "$XL_IF_A" "pfifo 77:" "attach with the peer's own qdisc"
xlane_in "$XL_NS_B" detach "$XL_IF_B"
! grep -q "removed the queue" "$OUT" || xl_fail "detach claims to have removed the peer's own qdisc"
expect_root "$XL_NS_A" "$XL_IF_A" "pfifo 77:" "detach with the peer's own qdisc"
xl_in "$XL_NS_A" tc qdisc del dev "$XL_IF_A" root
xl_log "ok: the peer's own pfifo 77: kept through attach and detach"

# 5. --leave-peer: no queue, and a warning that says what it costs and the fix.
xlane_in "$XL_NS_B" attach --mode native --leave-peer "$XL_IF_B"
expect_root "$XL_NS_A" "$XL_IF_A" "noqueue 0:" "attach --leave-peer"
grep -q "has no queue.*are dropped.*tc qdisc add dev $XL_IF_A root mq" "$ERR" ||
    xl_fail "attach --leave-peer gave no warning: $(cat "$ERR")"
xlane_in "$XL_NS_B" detach "$XL_IF_B"
xl_log "ok: --leave-peer left the peer queueless, with a warning"

# 6. skb mode, the default on a veth, has no ring: the peer is left alone.
xlane_in "$XL_NS_B" attach "$XL_IF_B"
grep -q "in skb mode (auto: a veth" "$OUT" || xl_fail "attach on a veth did not choose skb mode: $(cat "$OUT")"
expect_root "$XL_NS_A" "$XL_IF_A" "noqueue 0:" "attach (skb mode)"
xlane_in "$XL_NS_B" detach "$XL_IF_B"
xl_log "ok: skb mode, the default on a veth, left the peer alone"

# 7. A pair inside one namespace, created with a single transmit queue: the
# peer is found in this namespace and gets pfifo_fast (mq needs several).
LOCAL_X="vqx${XL_ID}"
LOCAL_Y="vqy${XL_ID}"
xl_in "$XL_NS_B" ip link add "$LOCAL_X" numtxqueues 1 numrxqueues 1 type veth peer name "$LOCAL_Y" \
    numtxqueues 1 numrxqueues 1
xl_in "$XL_NS_B" ip link set "$LOCAL_X" up
xl_in "$XL_NS_B" ip link set "$LOCAL_Y" up
xl_on_exit "xl_in $XL_NS_B '$XLANE' detach $LOCAL_X >/dev/null 2>&1"
xlane_in "$XL_NS_B" attach --mode native "$LOCAL_X"
grep -q "gave the veth peer $LOCAL_Y in this namespace a queue (root qdisc pfifo_fast" "$OUT" ||
    xl_fail "attach on a same-namespace pair: $(cat "$OUT")"
expect_root "$XL_NS_B" "$LOCAL_Y" "pfifo_fast 7861:" "same-namespace peer"
xlane_in "$XL_NS_B" detach "$LOCAL_X"
expect_root "$XL_NS_B" "$LOCAL_Y" "noqueue 0:" "same-namespace peer after detach"
xl_log "ok: a single-queue peer in the same namespace got pfifo_fast 7861:, removed at detach"

xl_log "PASS"
