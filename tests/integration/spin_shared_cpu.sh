#!/usr/bin/env bash
# Spinners that share a CPU with the thread they wait for. Both ends of a
# one-byte ping-pong run on CPU 0 under libxlane.so with XLANE_SPIN_US=1 s:
# a spin that never gave the CPU away would hold its peer off until the
# scheduler preempts it, a time slice per message (a median round trip of
# about 2 ms, measured), where a spin that gives way lets the peer answer at
# once (about 0.1 ms with python3 at both ends). Each wait of the library
# spins this way: a blocking TCP and UDP receive (the server, and the
# client's "recv"), poll, select and epoll (the client), and the kernel-path
# spin (XLANE_SPIN_KERNEL=1, TCP on 127.0.0.1, which the kernel serves).
#
#   spin_shared_cpu.sh LIBXLANE XLANE_BINARY
LIBXLANE="${1:?usage: spin_shared_cpu.sh LIBXLANE XLANE_BINARY}"
XLANE="${2:?usage: spin_shared_cpu.sh LIBXLANE XLANE_BINARY}"
XL_TAG=spincpu
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"
xl_require_root
xl_preload_test_setup
command -v taskset >/dev/null || xl_fail "taskset (util-linux) is missing"

# The median ignores bursts of a loaded host; the bound sits between a time
# slice per message (holding the CPU) and the spin giving way.
TRIPS=300
MAX_MEDIAN_US=500

xl_make_hosts
xl_attach_xlane "$XLANE" "$XL_NS_A" "$XL_IF_A" >/dev/null
xl_attach_xlane "$XLANE" "$XL_NS_B" "$XL_IF_B" >/dev/null
SERVER_PID=
xl_on_exit '[ -n "$SERVER_PID" ] && kill -9 $SERVER_PID 2>/dev/null'

PRELOAD=(env LD_PRELOAD="$LIBXLANE" XLANE_CONFIG=/dev/null XLANE_TCP=1 XLANE_SPIN_US=1000000
         XLANE_LOG_FILE="$work/xlane-%p.log")

pingpong() {  # pingpong NAME PROTO SERVER_NS CLIENT_NS ADDR PORT MODE [ENV...]
    local name="$1" proto="$2" sns="$3" cns="$4" addr="$5" port="$6" mode="$7"
    shift 7
    nsenter --net="/run/netns/$sns" taskset -c 0 "${PRELOAD[@]}" "$@" timeout 60 "$PY" \
        "$HERE/spin_pingpong.py" server "$proto" "$addr" "$port" >"$work/$name.server" 2>&1 &
    SERVER_PID=$!
    xl_wait_for 100 grep -q ready "$work/$name.server" ||
        { cat "$work/$name.server" >&2; xl_fail "$name: server never got ready"; }
    nsenter --net="/run/netns/$cns" taskset -c 0 "${PRELOAD[@]}" "$@" timeout 60 "$PY" \
        "$HERE/spin_pingpong.py" client "$proto" "$addr" "$port" "$mode" "$TRIPS" \
        >"$work/$name.client" 2>&1 ||
        { cat "$work/$name.client" "$work"/xlane-*.log >&2 2>/dev/null; xl_fail "$name: client failed"; }
    wait "$SERVER_PID" || { cat "$work/$name.server" >&2; xl_fail "$name: server failed"; }
    SERVER_PID=
    local median
    median=$(sed -n 's/^median round trip \([0-9]*\) us$/\1/p' "$work/$name.client")
    echo "$name: median round trip ${median:-?} us over $TRIPS, both ends on CPU 0"
    [ -n "$median" ] && [ "$median" -le "$MAX_MEDIAN_US" ] ||
        xl_fail "$name: median round trip ${median:-?} us (at most $MAX_MEDIAN_US expected): a spinner held its peer off"
}

port=5600
for proto in tcp udp; do
    for mode in recv poll select epoll; do
        port=$((port + 1))
        before=$(xl_redirects "$XLANE" "$XL_NS_A" "$XL_IF_A")
        pingpong "fast-$proto-$mode" "$proto" "$XL_NS_B" "$XL_NS_A" "$XL_ADDR_B" "$port" "$mode"
        # The fast path carried this exchange: every reply into A was redirected.
        after=$(xl_redirects "$XLANE" "$XL_NS_A" "$XL_IF_A")
        [ $((after - before)) -ge "$TRIPS" ] ||
            xl_fail "fast-$proto-$mode: only $((after - before)) frames took the fast path into A"
    done
done
# Kernel-path spins (kernel_spin.sh shows that they spin at all).
pingpong kernel-tcp-recv tcp "$XL_NS_A" "$XL_NS_A" 127.0.0.1 5650 recv XLANE_SPIN_KERNEL=1
pingpong kernel-tcp-poll tcp "$XL_NS_A" "$XL_NS_A" 127.0.0.1 5651 poll XLANE_SPIN_KERNEL=1
echo "every spinning wait let a peer on its CPU run"
