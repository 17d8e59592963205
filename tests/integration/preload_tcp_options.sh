#!/usr/bin/env bash
# TCP_MAXSEG, TCP_NOTSENT_LOWAT (and SIOCOUTQNSD) and SO_LINGER with a
# timeout on fast-path TCP sockets: tcp_options_client.py in A talks to the
# kernel server tcp_options_server.py in B, once under libxlane.so
# (XLANE_TCP=1, its connections on xlane's TCP) and once on the kernel
# alone. Both transcripts (client and server) must be the same: each line is
# something Linux guarantees (an MSS, an errno, a close() that waited for the
# peer's ACK of the FIN or for the linger timeout, bytes a process closed
# and exited on still delivered), no window or timing figure.
#
#   preload_tcp_options.sh LIBXLANE XLANE_BINARY
LIBXLANE="${1:?usage: preload_tcp_options.sh LIBXLANE XLANE_BINARY}"
XLANE="${2:?usage: preload_tcp_options.sh LIBXLANE XLANE_BINARY}"
XL_TAG=ptopt
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"
xl_require_root
xl_preload_test_setup

xl_make_hosts
xl_attach_xlane "$XLANE" "$XL_NS_A" "$XL_IF_A" >/dev/null
SERVER_PID=
xl_on_exit '[ -n "$SERVER_PID" ] && kill -9 $SERVER_PID 2>/dev/null'

run() {  # run NAME PORT ENV...: server in B (kernel), client in A with ENV
    local name="$1" port="$2"
    shift 2
    nsenter --net="/run/netns/$XL_NS_B" timeout 60 "$PY" "$HERE/tcp_options_server.py" \
        "$XL_ADDR_B" "$port" >"$work/$name.server" 2>&1 &
    SERVER_PID=$!
    xl_wait_for 100 grep -q ready "$work/$name.server" ||
        { cat "$work/$name.server" >&2; xl_fail "server never listened"; }
    nsenter --net="/run/netns/$XL_NS_A" env "$@" timeout 60 "$PY" \
        "$HERE/tcp_options_client.py" "$XL_ADDR_B" "$port" >"$work/$name.client" 2>&1 ||
        { cat "$work/$name.client" "$work"/xlane-*.log >&2 2>/dev/null; xl_fail "client failed ($name)"; }
    # Then a client that exits with its bytes in flight; the server reads
    # them after four seconds (xlane waits 2 s at exit for what it keeps).
    nsenter --net="/run/netns/$XL_NS_A" env "$@" timeout 60 "$PY" \
        "$HERE/tcp_options_client.py" "$XL_ADDR_B" "$port" exit >>"$work/$name.client" 2>&1 ||
        { cat "$work/$name.client" >&2; xl_fail "exiting client failed ($name)"; }
    xl_in "$XL_NS_A" timeout 20 "$PY" "$HERE/tcp_options_client.py" "$XL_ADDR_B" "$port" quit ||
        xl_fail "could not stop the server ($name)"
    wait "$SERVER_PID" || { cat "$work/$name.server" >&2; xl_fail "server failed ($name)"; }
    SERVER_PID=
}

run kernel 5411 XLANE_UNUSED=1
grep -q "^hold 4.0 received all True$" "$work/kernel.server" ||
    { cat "$work/kernel.server" >&2; xl_fail "the kernel did not deliver after exit (test broken)"; }
grep -q "^maxseg set 1000 server 988$" "$work/kernel.client" ||
    { cat "$work/kernel.client" >&2; xl_fail "the kernel run did not clamp the MSS (test broken)"; }
grep -q "^maxseg set 1000 connect EINPROGRESS syn-sent" "$work/kernel.client" ||
    { cat "$work/kernel.client" >&2; xl_fail "the kernel run's connect did not stay in SYN-SENT (test broken)"; }
before=$(xl_redirects "$XLANE" "$XL_NS_A" "$XL_IF_A")
run fast 5412 LD_PRELOAD="$LIBXLANE" XLANE_TCP=1 XLANE_CONFIG=/dev/null \
    XLANE_LOG_FILE="$work/xlane-%p.log"
after=$(xl_redirects "$XLANE" "$XL_NS_A" "$XL_IF_A")
# A dozen handshakes and their data: the connections were the engine's.
[ $((after - before)) -ge 60 ] || { cat "$work"/xlane-*.log >&2 2>/dev/null; xl_fail "only $((after - before)) frames took the fast path"; }

# A server in A terminated by SIGTERM or SIGHUP (default action), or ending
# with _exit() (SIGUSR1), while its kernel client in B waits in recv():
# Linux closes the dying process's socket, so the client gets EOF, or
# ECONNRESET when bytes it sent were unread; the server dies of the signal
# (or exits with _exit's status).
terminate() {  # terminate NAME PORT ENV...
    local name="$1" port="$2" sig what status
    shift 2
    for sig in SIGTERM SIGHUP SIGUSR1; do  # SIGUSR1: the victim's handler calls _exit(3)
        for what in idle unread; do
            port=$((port + 1))
            # nsenter and env exec: $! is python itself (it sleeps 60 s at
            # most; the namespace's removal kills it if the test fails).
            local out="$work/victim-$port.out"
            nsenter --net="/run/netns/$XL_NS_A" env "$@" "$PY" \
                "$HERE/tcp_options_client.py" "$XL_ADDR_A" "$port" victim >"$out" 2>&1 &
            local victim=$!
            xl_wait_for 100 grep -q ready "$out" ||
                { cat "$out" >&2; xl_fail "victim never listened ($name)"; }
            xl_in "$XL_NS_B" timeout 20 "$PY" "$HERE/tcp_options_client.py" "$XL_ADDR_A" "$port" \
                watch "$victim" "$sig" "$what" >>"$work/$name.client" 2>"$work/watch.err" ||
                { cat "$work/$name.client" "$work/watch.err" >&2; xl_fail "watching client failed ($name)"; }
            status=0
            { wait "$victim"; } 2>/dev/null || status=$?  # no job notice in the transcript
            echo "$sig $what: the server's status $status" >>"$work/$name.client"
        done
    done
}
terminate kernel 5420 XLANE_UNUSED=1
before=$(xl_redirects "$XLANE" "$XL_NS_A" "$XL_IF_A")
terminate fast 5430 LD_PRELOAD="$LIBXLANE" XLANE_TCP=1 XLANE_CONFIG=/dev/null \
    XLANE_LOG_FILE="$work/xlane-%p.log"
after=$(xl_redirects "$XLANE" "$XL_NS_A" "$XL_IF_A")
# Four handshakes at least: the servers were the engine's.
[ $((after - before)) -ge 8 ] || xl_fail "only $((after - before)) frames of the terminated servers took the fast path"

for side in client server; do
    diff -u "$work/kernel.$side" "$work/fast.$side" >&2 ||
        xl_fail "the $side transcript under libxlane.so differs from the kernel's (above)"
done
sed 's/^/  /' "$work/fast.client" >&2
xl_log "TCP_MAXSEG, TCP_NOTSENT_LOWAT, SIOCOUTQNSD and SO_LINGER as on Linux: OK"
