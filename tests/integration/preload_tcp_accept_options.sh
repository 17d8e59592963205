#!/usr/bin/env bash
# Options an accepted fast-path TCP socket inherits from its listener: a
# python3 server in B sets options on its listener before listen() and
# changes some after it, accepting one connection from a kernel client in A
# after each step, and prints what getsockopt reads on each accepted socket.
# Run once under libxlane.so (XLANE_TCP=1, the connections on the fast path)
# and once on the kernel alone: the two outputs must be the same, since
# Linux's accepted sockets inherit the listener's options.
# Then SO_REUSEADDR's use: a server that exits while its connection still
# owes data and FIN leaves it lingering (FIN-WAIT-1, the kernel's after the
# handover); a server restarted at once on that port must bind it, as on
# Linux, where the lingering socket has its listener's SO_REUSEADDR.
#
#   preload_tcp_accept_options.sh LIBXLANE XLANE_BINARY
LIBXLANE="${1:?usage: preload_tcp_accept_options.sh LIBXLANE XLANE_BINARY}"
XLANE="${2:?usage: preload_tcp_accept_options.sh LIBXLANE XLANE_BINARY}"
XL_TAG=ptcpo
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"
xl_require_root
xl_preload_test_setup

xl_make_hosts
xl_attach_xlane "$XLANE" "$XL_NS_B" "$XL_IF_B" >/dev/null
SERVER_PID=
xl_on_exit '[ -n "$SERVER_PID" ] && kill -9 $SERVER_PID 2>/dev/null'

cat >"$work/server.py" <<'PYEOF'
import json, socket, struct, sys
S, T = socket.SOL_SOCKET, socket.IPPROTO_TCP
INTS = {"SO_REUSEADDR": (S, socket.SO_REUSEADDR), "SO_REUSEPORT": (S, socket.SO_REUSEPORT),
        "SO_KEEPALIVE": (S, socket.SO_KEEPALIVE), "SO_SNDBUF": (S, socket.SO_SNDBUF),
        "SO_RCVBUF": (S, socket.SO_RCVBUF), "TCP_NODELAY": (T, socket.TCP_NODELAY),
        "TCP_CORK": (T, socket.TCP_CORK), "TCP_KEEPIDLE": (T, socket.TCP_KEEPIDLE),
        "TCP_KEEPINTVL": (T, socket.TCP_KEEPINTVL), "TCP_KEEPCNT": (T, socket.TCP_KEEPCNT),
        "TCP_USER_TIMEOUT": (T, socket.TCP_USER_TIMEOUT)}

def report(step, conn, autotuned=()):
    values = {k: conn.getsockopt(*v) for k, v in INTS.items() if k not in autotuned}
    values["TCP_CONGESTION"] = conn.getsockopt(T, socket.TCP_CONGESTION, 16).rstrip(b"\0").decode()
    values["SO_LINGER"] = struct.unpack("ii", conn.getsockopt(S, socket.SO_LINGER, 8))
    print(step, json.dumps(values, sort_keys=True), flush=True)

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(S, socket.SO_REUSEADDR, 1)
listener.setsockopt(S, socket.SO_REUSEPORT, 1)
# Before listen(): seen by the library only as what the shadow reads back.
listener.setsockopt(T, socket.TCP_NODELAY, 1)
listener.setsockopt(S, socket.SO_KEEPALIVE, 1)
listener.setsockopt(T, socket.TCP_KEEPIDLE, 33)
listener.setsockopt(S, socket.SO_RCVBUF, 50000)
listener.setsockopt(T, socket.TCP_CONGESTION, b"reno")
listener.setsockopt(S, socket.SO_LINGER, struct.pack("ii", 1, 7))
listener.bind((sys.argv[1], int(sys.argv[2])))
listener.listen(4)
print("ready", flush=True)
conn, _ = listener.accept()
# SO_SNDBUF nobody set: Linux autotunes a connected socket's (tcp_wmem),
# which a shadow that never connects does not follow.
report("before-listen", conn, autotuned=("SO_SNDBUF",))
# After listen(): changed on the listener itself, one back to its default.
listener.setsockopt(T, socket.TCP_NODELAY, 0)
listener.setsockopt(T, socket.TCP_KEEPCNT, 4)
listener.setsockopt(T, socket.TCP_KEEPINTVL, 11)
listener.setsockopt(T, socket.TCP_USER_TIMEOUT, 7000)
listener.setsockopt(S, socket.SO_SNDBUF, 30000)
listener.setsockopt(T, socket.TCP_CONGESTION, b"cubic")
print("changed", flush=True)
conn2, _ = listener.accept()
report("after-listen", conn2)
PYEOF

connect_once() {
    xl_in "$XL_NS_A" timeout 10 "$PY" -c '
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
c.close()' "$XL_ADDR_B" "$1" || xl_fail "kernel client could not connect to port $1"
}

run_server() {  # run_server OUT PORT ENV...: the server in B, two connections from A
    local out="$1" port="$2"
    shift 2
    nsenter --net="/run/netns/$XL_NS_B" env "$@" timeout 30 "$PY" "$work/server.py" \
        "$XL_ADDR_B" "$port" >"$out" 2>&1 &
    SERVER_PID=$!
    xl_wait_for 100 grep -q ready "$out" || { cat "$out" >&2; xl_fail "server never listened"; }
    connect_once "$port"
    # The second connection only once the listener's options changed: Linux
    # clones the listener when the handshake completes, not at accept().
    xl_wait_for 100 grep -q changed "$out" || { cat "$out" >&2; xl_fail "server never changed its options"; }
    connect_once "$port"
    wait "$SERVER_PID" || { cat "$out" >&2; xl_fail "server failed ($*)"; }
    SERVER_PID=
}

run_server "$work/kernel.out" 5401 XLANE_UNUSED=1
before=$(xl_redirects "$XLANE" "$XL_NS_B" "$XL_IF_B")
run_server "$work/fast.out" 5402 LD_PRELOAD="$LIBXLANE" XLANE_TCP=1 XLANE_CONFIG=/dev/null \
    XLANE_LOG_FILE="$work/xlane-%p.log"
after=$(xl_redirects "$XLANE" "$XL_NS_B" "$XL_IF_B")
# Two handshakes and two FINs at least: both connections were the engine's.
[ $((after - before)) -ge 6 ] || { cat "$work"/xlane-*.log >&2 2>/dev/null; xl_fail "only $((after - before)) frames took the fast path"; }

grep -q '"TCP_KEEPIDLE": 33' "$work/kernel.out" || { cat "$work/kernel.out" >&2; xl_fail "the kernel run did not inherit TCP_KEEPIDLE (test broken)"; }
for step in before-listen after-listen; do
    kernel=$(grep "^$step " "$work/kernel.out") || xl_fail "no $step line from the kernel run"
    fast=$(grep "^$step " "$work/fast.out") || { cat "$work/fast.out" >&2; xl_fail "no $step line from the fast-path run"; }
    [ "$kernel" = "$fast" ] || xl_fail "accepted socket's options differ from Linux's ($step):
  kernel: $kernel
  fast:   $fast"
    xl_log "$step: $fast"
done
xl_log "accepted sockets inherit the listener's options as on Linux: OK"

# ---- a restarted server binds its port while the old connection lingers
cat >"$work/leaver.py" <<'PYEOF'
import socket, sys
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((sys.argv[1], int(sys.argv[2])))
listener.listen(1)
print("ready", flush=True)
conn, _ = listener.accept()
conn.setblocking(False)
try:
    while True:  # until the client, which never reads, is full
        conn.send(b"x" * 65536)
except BlockingIOError:
    pass
conn.close()  # data and FIN still owed: the connection outlives the process
print("leaving", flush=True)
PYEOF
cat >"$work/rebind.py" <<'PYEOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
    s.listen(1)
    print("bound")
except OSError as e:
    print("bind failed:", e)
PYEOF

CLIENT_PID=
xl_on_exit '[ -n "$CLIENT_PID" ] && kill -9 $CLIENT_PID 2>/dev/null'
restart_server() {  # restart_server TAG PORT ENV...: what the rebind got into $work/TAG.rebind
    local tag="$1" port="$2"
    shift 2
    nsenter --net="/run/netns/$XL_NS_B" env "$@" timeout 30 "$PY" "$work/leaver.py" \
        "$XL_ADDR_B" "$port" >"$work/$tag.leaver" 2>&1 &
    SERVER_PID=$!
    xl_wait_for 100 grep -q ready "$work/$tag.leaver" || { cat "$work/$tag.leaver" >&2; xl_fail "leaver never listened"; }
    # A kernel client that never reads, holding the connection open.
    xl_in "$XL_NS_A" timeout 30 "$PY" -c '
import socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
time.sleep(25)' "$XL_ADDR_B" "$port" &
    CLIENT_PID=$!
    wait "$SERVER_PID" || { cat "$work/$tag.leaver" >&2; xl_fail "leaver failed ($tag)"; }
    SERVER_PID=
    grep -q leaving "$work/$tag.leaver" || { cat "$work/$tag.leaver" >&2; xl_fail "leaver did not close ($tag)"; }
    # The old connection lingers, else this checks nothing.
    xl_wait_for 50 sh -c "nsenter --net=/run/netns/$XL_NS_B ss -Htn state fin-wait-1 '( sport = :$port )' | grep -q ." ||
        { nsenter --net="/run/netns/$XL_NS_B" ss -tan >&2; xl_fail "no lingering FIN-WAIT-1 connection on port $port ($tag)"; }
    nsenter --net="/run/netns/$XL_NS_B" timeout 10 "$PY" "$work/rebind.py" "$XL_ADDR_B" "$port" \
        >"$work/$tag.rebind" 2>&1
    kill -9 "$CLIENT_PID" 2>/dev/null
    wait "$CLIENT_PID" 2>/dev/null
    CLIENT_PID=
}

restart_server kernel 5403 XLANE_UNUSED=1
kernel_rebind=$(cat "$work/kernel.rebind")
[ "$kernel_rebind" = bound ] || xl_fail "on the kernel alone the restarted server got: $kernel_rebind (test broken)"
restart_server fast 5404 LD_PRELOAD="$LIBXLANE" XLANE_TCP=1 XLANE_CONFIG=/dev/null \
    XLANE_LOG_FILE="$work/xlane-%p.log"
fast_rebind=$(cat "$work/fast.rebind")
[ "$fast_rebind" = bound ] || { cat "$work"/xlane-*.log >&2 2>/dev/null; xl_fail "a server restarted after a fast-path one: $fast_rebind"; }
xl_log "a restarted server binds its port while the old connection lingers: OK"
