#!/usr/bin/env bash
# The UDP fast path of libxlane.so end to end: two hosts (namespaces joined
# by veth, 2 queues), xlane attached on both, udp_probe's echo server on B and
# its client cases on A, both under LD_PRELOAD. Checks that the cases pass,
# that the fast path really carried the traffic (the XDP redirect counters of
# `xlane status --json` moved; each decision is in the log), and that a
# `kernel udp ...` rule keeps a socket on the kernel (the counter stays).
#
#   preload_udp.sh UDP_PROBE XLANE LIBXLANE
PROBE="${1:?usage: preload_udp.sh UDP_PROBE XLANE LIBXLANE}"
XLANE="${2:?usage: preload_udp.sh UDP_PROBE XLANE LIBXLANE}"
LIB="${3:?usage: preload_udp.sh UDP_PROBE XLANE LIBXLANE}"
XL_TAG=pudp
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib.sh"
xl_require_root

WORK="$(mktemp -d /tmp/xl-pudp-$$.XXXXXX)"
xl_on_exit "rm -rf '$WORK'"
xl_make_hosts numtxqueues 2 numrxqueues 2
xl_attach_xlane "$XLANE" "$XL_NS_A" "$XL_IF_A"
xl_attach_xlane "$XLANE" "$XL_NS_B" "$XL_IF_B"

# Packets the XDP program on interface IF (in namespace NS) redirected to an
# AF_XDP socket: redirects NS IF.
redirects() { xl_redirects "$XLANE" "$1" "$2"; }

preloaded() {
    local ns="$1" log="$2"
    shift 2
    xl_in "$ns" env LD_PRELOAD="$LIB" XLANE_LOG_LEVEL=info XLANE_LOG_FILE="$log" "$@"
}

# ---- the echo server on B, preloaded ----
preloaded "$XL_NS_B" "$WORK/server.%p.log" timeout 200 "$PROBE" server >"$WORK/server.out" 2>&1 &
SERVER=$!
xl_on_exit "kill $SERVER"
xl_wait_for 50 grep -q ready "$WORK/server.out" || { cat "$WORK/server.out"; xl_fail "server never ready"; }

# ---- client cases on A, preloaded ----
a0="$(redirects "$XL_NS_A" "$XL_IF_A")" b0="$(redirects "$XL_NS_B" "$XL_IF_B")"
preloaded "$XL_NS_A" "$WORK/client.%p.log" timeout 120 "$PROBE" client \
    sizes recv_features nonblocking rcvtimeo dup fork unsupported_option exec disconnect \
    refused threads traffic leave_open \
    || { cat "$WORK"/client.*.log >&2; xl_fail "client cases failed under LD_PRELOAD"; }
# Signals during a long spin on the rings (1 s): EINTR at once, or restart.
preloaded "$XL_NS_A" "$WORK/spin.%p.log" XLANE_SPIN_US=1000000 timeout 60 "$PROBE" client \
    spin_signals || { cat "$WORK"/spin.*.log >&2; xl_fail "signals during the fast path's spin"; }
# Sockets left open at exit: the exit handler removed their steering entries.
left="$(xl_in "$XL_NS_A" "$XLANE" flows | awk -v ifc="$XL_IF_A" '$2 == ifc' | wc -l)"
[ "$left" = 0 ] || xl_fail "the client left $left steering entries on $XL_IF_A: $(xl_in "$XL_NS_A" "$XLANE" flows)"
a1="$(redirects "$XL_NS_A" "$XL_IF_A")" b1="$(redirects "$XL_NS_B" "$XL_IF_B")"
xl_log "redirected to AF_XDP: A $a0 -> $a1, B $b0 -> $b1"
# 50 echoes in `traffic` alone; the other cases add hundreds more.
[ $((a1 - a0)) -ge 50 ] || xl_fail "the client's datagrams did not come through the fast path on A"
[ $((b1 - b0)) -ge 50 ] || xl_fail "the server's datagrams did not come through the fast path on B"
cat "$WORK"/client.*.log >"$WORK/client.log"
grep -q "fast path, default: offload any any" "$WORK/client.log" ||
    xl_fail "no fast-path decision in the client's log: $(head -5 "$WORK/client.log")"
grep -q "unsupported option IP_RECVERR" "$WORK/client.log" ||
    xl_fail "the IP_RECVERR hand-back is not in the client's log: $(cat "$WORK/client.log")"
grep -q "UDP fast path engine started" "$WORK/client.log" || xl_fail "engine start not logged"
# The fork child found the interfaces owned by its parent: kernel path, said why.
grep -q "fast path owned by pid" "$WORK/client.log" ||
    xl_fail "the fork child's fallback is not logged: $(cat "$WORK/client.log")"
grep -q "fast path, " "$WORK"/server.*.log || xl_fail "no fast-path decision in the server's log"

# ---- sends right before the image ends (_exit, exec): every datagram leaves ----
# Back-to-back sends share one TX wake-up; _exit and exec run no exit
# handler, so the library wakes the kernel for them first. A plain kernel
# socket on B counts what arrives.
# Without that wake-up the last batch is lost only when the image ends
# before the progress thread's next round (a race): each way runs twice.
# Each round has its own counter output: `>` truncates it in the background
# child, so a file left by an earlier round could still say "ready" to the
# wait below, and the sender would start before the counter is bound.
round=0
for how in _exit _Exit execl execlp _exit _Exit execl execlp; do
    port=7460
    round=$((round + 1))
    out="$WORK/burst.$round.$how.out"
    xl_in "$XL_NS_B" timeout 30 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 4 << 20)  # SO_RCVBUFFORCE (root)
s.bind(("198.18.0.2", int(sys.argv[1])))
print("ready", flush=True)
# Generous waits (a busy CI machine may take seconds to start the sender);
# all 200 arrived ends the wait at once.
s.settimeout(20)
n = 0
try:
    while n < int(sys.argv[2]):
        s.recv(2048)
        n += 1
        s.settimeout(2)
except socket.timeout:
    pass
print("count", n, flush=True)
' "$port" 200 >"$out" 2>&1 &
    counter=$!
    xl_wait_for 50 grep -q ready "$out" ||
        xl_fail "burst counter never ready: $(cat "$out")"
    rm -f "$WORK"/burst.*.log
    rc=0
    preloaded "$XL_NS_A" "$WORK/burst.%p.log" timeout 30 "$PROBE" burst "$port" 200 "$how" || rc=$?
    [ "$rc" = 0 ] || xl_fail "burst sender ($how) exited with $rc: $(cat "$WORK"/burst.*.log 2>&1)"
    wait "$counter" || true
    grep -q "fast path, " "$WORK"/burst.*.log ||
        xl_fail "the burst sender ($how) was not on the fast path: $(cat "$WORK"/burst.*.log)"
    # _exit skips atexit: the library removes the stats segment itself (exec
    # leaves it to the new image or to the next `xlane sockets`).
    for sender_log in "$WORK"/burst.*.log; do
        sender_pid="${sender_log##*/burst.}"
        sender_pid="${sender_pid%.log}"
        case "$how" in
            _exit|_Exit) [ ! -e "/dev/shm/xlane-stats.$sender_pid" ] ||
                xl_fail "the stats segment of pid $sender_pid stayed after $how" ;;
        esac
    done
    got="$(awk '$1 == "count" {print $2}' "$out")"
    xl_log "200 datagrams then $how: $got arrived"
    [ "$got" = 200 ] || xl_fail "200 datagrams sent right before $how, $got arrived"
done

# ---- a kernel rule keeps the client on the kernel: A's counter stays ----
printf 'kernel udp any *\n' >"$WORK/kernel.conf"
a0="$(redirects "$XL_NS_A" "$XL_IF_A")"
preloaded "$XL_NS_A" "$WORK/rule.%p.log" env XLANE_CONFIG="$WORK/kernel.conf" \
    timeout 60 "$PROBE" client traffic || xl_fail "client failed with the kernel rule"
a1="$(redirects "$XL_NS_A" "$XL_IF_A")"
xl_log "with 'kernel udp any *': A $a0 -> $a1"
[ "$a1" = "$a0" ] ||
    xl_fail "a kernel rule did not keep the client on the kernel ($a0 -> $a1): $(cat "$WORK"/rule.*.log)"
grep -q "kernel path, $WORK/kernel.conf:1: kernel udp any \*" "$WORK"/rule.*.log ||
    xl_fail "the rule's decision is not in the log: $(cat "$WORK"/rule.*.log)"

# ---- no xlane in this namespace: the kernel serves, the log says why ----
unshare -n sh -c '
    ip link set lo up && ip addr add 198.18.0.9/32 dev lo &&
    LD_PRELOAD="$1" XLANE_LOG_LEVEL=info XLANE_LOG_FILE="$2" timeout 30 python3 -c "
import socket
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind((\"198.18.0.9\", 7409))
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
tx.sendto(b\"hello\", (\"198.18.0.9\", 7409))
rx.settimeout(5)
assert rx.recv(16) == b\"hello\"
"' sh "$LIB" "$WORK/absent.log" || xl_fail "UDP failed under LD_PRELOAD without xlane attached"
grep -q "kernel path, xlane not attached" "$WORK/absent.log" ||
    xl_fail "the missing attachment is not in the log: $(cat "$WORK/absent.log")"

# ---- the same cases without the library (the reference) ----
xl_in "$XL_NS_A" timeout 60 "$PROBE" client sizes recv_features nonblocking rcvtimeo dup \
    disconnect refused \
    || xl_fail "client cases fail even without LD_PRELOAD"

xl_in "$XL_NS_A" "$PROBE" client quit || true
wait "$SERVER" || xl_fail "the server failed: $(cat "$WORK/server.out")"
xl_log "ok: UDP fast path under LD_PRELOAD, IPv4 and IPv6, 1..65507 bytes"
