#!/usr/bin/env bash
# XLANE_TCP=auto, the default: a preloaded TCP client takes the fast path
# when it has CAP_NET_ADMIN (which the hand-over of its connections to the
# kernel at fork and exit takes), and the kernel path without it (the
# capability dropped with setpriv); XLANE_TCP=1 takes the fast path even
# then, XLANE_TCP=0 never. Each run echoes through a kernel server in B and
# is judged by the path its connect took (the library's info log) and by
# the frames xlane_steer redirected on A.
#
#   preload_tcp_auto.sh LIBXLANE XLANE_BINARY
LIBXLANE="${1:?usage: preload_tcp_auto.sh LIBXLANE XLANE_BINARY}"
XLANE="${2:?usage: preload_tcp_auto.sh LIBXLANE XLANE_BINARY}"
XL_TAG=ptauto
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"
xl_require_root
xl_preload_test_setup
command -v setpriv >/dev/null || xl_fail "setpriv (util-linux) is missing"

xl_make_hosts
xl_attach_xlane "$XLANE" "$XL_NS_A" "$XL_IF_A" >/dev/null
SERVER_PID=
xl_on_exit '[ -n "$SERVER_PID" ] && kill -9 $SERVER_PID 2>/dev/null'
PORT=5460

nsenter --net="/run/netns/$XL_NS_B" timeout 60 "$PY" -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(8)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(c.recv(100))
    c.close()' "$XL_ADDR_B" "$PORT" >"$work/server.out" 2>&1 &
SERVER_PID=$!
xl_wait_for 100 grep -q ready "$work/server.out" || { cat "$work/server.out" >&2; xl_fail "server never listened"; }

# run NAME PREFIX... -- ENV...: one echo from A; prints the path its connect took.
run() {
    local name="$1"
    shift
    local prefix=()
    while [ "$1" != "--" ]; do prefix+=("$1"); shift; done
    shift
    nsenter --net="/run/netns/$XL_NS_A" "${prefix[@]}" env LD_PRELOAD="$LIBXLANE" \
        XLANE_CONFIG=/dev/null XLANE_LOG_LEVEL=info XLANE_LOG_FILE="$work/$name.log" "$@" \
        timeout 20 "$PY" -c '
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
c.sendall(b"ping")
assert c.recv(100) == b"ping"
c.close()' "$XL_ADDR_B" "$PORT" >"$work/$name.out" 2>&1 ||
        { cat "$work/$name.out" "$work/$name.log" >&2; xl_fail "client failed ($name)"; }
    if grep -q "(tcp4 connect .*): fast path" "$work/$name.log"; then echo fast; else echo kernel; fi
}

drop=(setpriv --bounding-set -net_admin --inh-caps -net_admin)
before=$(xl_redirects "$XLANE" "$XL_NS_A" "$XL_IF_A")
[ "$(run auto-root --)" = fast ] || { cat "$work/auto-root.log" >&2; xl_fail "XLANE_TCP=auto (default) with CAP_NET_ADMIN: not the fast path"; }
after=$(xl_redirects "$XLANE" "$XL_NS_A" "$XL_IF_A")
[ $((after - before)) -ge 3 ] || xl_fail "the auto run's connection redirected only $((after - before)) frames"

before=$after
[ "$(run auto-dropped "${drop[@]}" --)" = kernel ] || { cat "$work/auto-dropped.log" >&2; xl_fail "XLANE_TCP=auto without CAP_NET_ADMIN: took the fast path"; }
grep -q "XLANE_TCP=auto takes the fast path only with CAP_NET_ADMIN" "$work/auto-dropped.log" ||
    { cat "$work/auto-dropped.log" >&2; xl_fail "no log line saying why TCP stayed on the kernel path"; }
after=$(xl_redirects "$XLANE" "$XL_NS_A" "$XL_IF_A")
[ "$after" -eq "$before" ] || xl_fail "the kernel-path run was redirected ($((after - before)) frames)"

[ "$(run forced-dropped "${drop[@]}" -- XLANE_TCP=1)" = fast ] || xl_fail "XLANE_TCP=1 without CAP_NET_ADMIN: not the fast path"
[ "$(run off --  XLANE_TCP=0)" = kernel ] || xl_fail "XLANE_TCP=0: took the fast path"
xl_log "XLANE_TCP=auto: fast with CAP_NET_ADMIN, kernel without; 1 and 0 as set: OK"
