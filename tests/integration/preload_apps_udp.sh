#!/usr/bin/env bash
# Real UDP programs over the fast path: two hosts (network namespaces joined by
# a veth pair), xlane attached on both ends, programs run unmodified with
# LD_PRELOAD=libxlane.so on one end, both ends, or neither. Every scenario
# checks (a) delivery: sockperf's own accounting (sent = received, no dropped,
# duplicated or out-of-order message) or python3 checking every payload, and
# (b) the path: the XDP redirect counters (`xlane status --json`) of the
# interface a preloaded program receives on moved, and those of a plain
# program's interface, or of flows a `kernel udp` rule keeps in the kernel,
# did not.
#   1. sockperf UDP ping-pong and throughput, both ends preloaded
#   2. sockperf ping-pong with only the server, then only the client preloaded
#   3. python3 UDP client and server (IPv4 and IPv6, 0..3000-byte datagrams)
#   4. a `kernel udp` rule (XLANE_CONFIG): preloaded, but the kernel carries it
#   5. multicast (239.255.18.1 on the veth only): delivered, by the kernel
#   6. SIGKILL of a preloaded server: a plain server on the same port gets the
#      traffic at once (the XDP program finds no XSK and passes), `xlane status`
#      drops the dead process's entries, and so does the next preloaded process,
#      which serves the port on the fast path
#   7. `xlane detach` under a running preloaded server: it keeps answering
#
#   preload_apps_udp.sh LIBXLANE XLANE_BINARY
LIBXLANE="${1:?usage: preload_apps_udp.sh LIBXLANE XLANE_BINARY}"
XLANE="${2:?usage: preload_apps_udp.sh LIBXLANE XLANE_BINARY}"
XL_TAG=pudpa
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"
xl_require_root
xl_preload_test_setup
command -v sockperf >/dev/null || xl_fail "sockperf is not installed (./scripts/deps installs it)"
mountpoint -q /sys/fs/bpf || mount -t bpf bpffs /sys/fs/bpf || xl_fail "cannot mount bpffs"

APPS="$HERE/udp_apps.py"
RUN_SECONDS="${XLANE_TEST_SOCKPERF_SECONDS:-2}"

xl_make_hosts
for ns_if in "$XL_NS_A:$XL_IF_A" "$XL_NS_B:$XL_IF_B"; do
    ns="${ns_if%%:*}" ifc="${ns_if#*:}"
    netns_id="netns-$(stat -L -c %i "/run/netns/$ns")"
    pin_dir="/sys/fs/bpf/xlane/$netns_id/$ifc"
    xl_on_exit "rm -rf '$pin_dir'; rmdir '/sys/fs/bpf/xlane/$netns_id'"
    xl_on_exit "xl_in $ns '$XLANE' detach $ifc"
    # The engine's interface locks (/run/xlane/<netns-id>/<ifname>.lock).
    xl_on_exit "rm -rf '/run/xlane/$netns_id'"
    xl_in "$ns" "$XLANE" attach "$ifc" >/dev/null || xl_fail "xlane attach $ifc in $ns failed"
done
# Background programs of a failing scenario: killed first on exit (their
# namespace's cleanup would kill them too, but only after the detach).
PIDS=()
xl_on_exit 'for p in "${PIDS[@]}"; do kill -9 $p; done'

# ---- helpers ----

# The environment of a preloaded program: no /etc/xlane.conf unless a test
# names rules, a log per process for the failure report.
RULES=/dev/null
preload_env() {
    echo env LD_PRELOAD="$LIBXLANE" XLANE_TEST_EXPECT_PRELOAD=1 XLANE_CONFIG="$RULES" \
        XLANE_LOG_FILE="$work/xlane-%p.log"
}
# run_in NS MODE CMD...: CMD in namespace NS, under libxlane.so when MODE is
# "preload".
run_in() {
    local ns="$1" mode="$2"
    shift 2
    if [ "$mode" = preload ]; then
        # shellcheck disable=SC2046 # preload_env's words are meant to split
        exec_in "$ns" $(preload_env) "$@"
    else
        exec_in "$ns" "$@"
    fi
}
exec_in() { local ns="$1"; shift; $XL_EXEC nsenter --net="/run/netns/$ns" "$@"; }
# spawn OUT NS MODE CMD...: run_in in the background, output to OUT; SPAWNED is
# CMD's own pid (the subshell, nsenter and env all exec), killed on exit.
spawn() {
    local out="$1"
    shift
    (XL_EXEC="exec" run_in "$@") >"$out" 2>&1 &
    SPAWNED=$!
    PIDS+=("$SPAWNED")
}

# Redirected packets (5-tuple + 3-tuple hits) and hits without an XSK, per
# interface: prints "REDIRECT_A NO_XSK_A REDIRECT_B NO_XSK_B".
counters() {
    "$XLANE" status --json | "$PY" -c '
import json, sys
by_if = {a["interface"]: a["counters"] for a in json.load(sys.stdin)["attachments"]}
out = []
for ifc in sys.argv[1:]:
    c = by_if.get(ifc)
    if c is None:
        out += ["-", "-"]  # not attached (after detach)
        continue
    out.append(str(c["redirect_flow"]["packets"] + c["redirect_bind"]["packets"]))
    out.append(str(c["pass_no_xsk"]["packets"]))
print(" ".join(out))' "$XL_IF_A" "$XL_IF_B" || xl_fail "xlane status --json failed"
}
COUNTERS_BEFORE=()
read_counters() {  # read_counters ARRAY_NAME
    local -n _out="$1"
    read -r -a _out <<<"$(counters)"
    [ "${#_out[@]}" -eq 4 ] || xl_fail "cannot read the XDP counters from xlane status --json"
}
mark() { read_counters COUNTERS_BEFORE; }
# moved SIDE: redirect packets on that side's interface since the last mark.
moved() {
    local now idx
    read_counters now
    [ "$1" = A ] && idx=0 || idx=2
    echo $((now[idx] - COUNTERS_BEFORE[idx]))
}
no_xsk_moved() {
    local now idx
    read_counters now
    [ "$1" = A ] && idx=1 || idx=3
    echo $((now[idx] - COUNTERS_BEFORE[idx]))
}

# expect_path WHAT SIDE MODE MIN: MODE "preload" needs at least MIN redirected
# packets on SIDE's interface since the mark, any other mode none at all.
expect_path() {
    local what="$1" side="$2" mode="$3" min="$4" n
    n="$(moved "$side")"
    if [ "$mode" = preload ]; then
        [ "$n" -ge "$min" ] || xl_fail "$what: the fast path did not carry it: $n packets redirected to" \
            "AF_XDP on host $side's interface, expected >= $min$(log_tail)"
    else
        [ "$n" -eq 0 ] || xl_fail "$what: $n packets redirected to AF_XDP on host $side's interface," \
            "which should have left them to the kernel"
    fi
}
log_tail() {
    local f
    for f in "$work"/xlane-*.log; do
        [ -s "$f" ] && printf '\n--- %s\n%s' "$(basename "$f")" "$(tail -5 "$f")"
    done
}

# Bounded wait for a UDP socket bound to PORT in namespace NS.
wait_bound() {
    xl_wait_for 100 sh -c "nsenter --net=/run/netns/$1 ss -Hlnu 'sport = :$2' | grep -q ." ||
        xl_fail "nothing bound to UDP port $2 in $1"
}
check_loaded() {  # check_loaded PID MODE WHAT
    [ "$2" = preload ] || return 0
    grep -q libxlane.so "/proc/$1/maps" 2>/dev/null || xl_fail "$3: libxlane.so is not loaded (pid $1)"
}
# socket_path PID LOCAL: "PATH REASON" of PID's UDP socket bound to LOCAL
# (addr:port), from the per-socket state preloaded processes publish.
socket_path() {
    "$XLANE" sockets --pid "$1" --json | "$PY" -c '
import json, sys
s = [s for s in json.load(sys.stdin)["sockets"] if s["proto"] == "udp" and s["local"] == sys.argv[1]]
print(s[0]["path"] + " " + s[0]["reason_text"] if s else "none")' "$2"
}
expect_socket() {  # expect_socket PID LOCAL PATH [REASON_SUBSTRING]
    local got
    got="$(socket_path "$1" "$2")"
    [[ "$got" == "$3 "* && "$got" == *"${4:-}"* ]] ||
        xl_fail "xlane sockets: pid $1's socket $2 should be on the $3 path${4:+ ($4)}, is: $got"
}
# Stops a sockperf server with SIGINT (it then prints what it received),
# bounded: SIGKILL after 5 s.
stop_sockperf() {
    local pid="$1"
    kill -INT "$pid" 2>/dev/null
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    true
}
field() { sed -n "s/.*$1=\\([0-9]*\\).*/\\1/p" <<<"$2" | tail -1; }  # field NAME TEXT

# sockperf_pp NAME SERVER_MODE CLIENT_MODE PORT [client options]: ping-pong A -> B.
sockperf_pp() {
    local name="$1" smode="$2" cmode="$3" port="$4"
    shift 4
    local out="$work/$name.client" srv
    mark
    spawn "$work/$name.server" "$XL_NS_B" "$smode" sockperf sr -i "$XL_ADDR_B" -p "$port"
    srv=$SPAWNED
    wait_bound "$XL_NS_B" "$port"
    check_loaded "$srv" "$smode" "$name server"
    run_in "$XL_NS_A" "$cmode" timeout $((RUN_SECONDS + 30)) sockperf pp -i "$XL_ADDR_B" -p "$port" \
        -m 64 -t "$RUN_SECONDS" "$@" >"$out" 2>&1 || { cat "$out"; xl_fail "$name: sockperf client failed"; }
    stop_sockperf "$srv"
    local valid sent received
    valid="$(grep 'Valid Duration' "$out")"
    sent="$(field SentMessages "$valid")"
    received="$(field ReceivedMessages "$valid")"
    [ -n "$sent" ] && [ "$sent" -ge 1000 ] || { cat "$out"; xl_fail "$name: too few messages (${sent:-none})"; }
    [ "$sent" = "$received" ] || { cat "$out"; xl_fail "$name: sent $sent, received $received"; }
    grep -q '# dropped messages = 0; # duplicated messages = 0; # out-of-order messages = 0' "$out" ||
        { cat "$out"; xl_fail "$name: sockperf counted lost, duplicated or reordered messages"; }
    # Requests reach B, replies reach A, at least one per valid-duration message.
    expect_path "$name (requests into B)" B "$smode" "$received"
    expect_path "$name (replies into A)" A "$cmode" "$received"
    xl_log "ok: $name: $received ping-pongs, none lost, p50 $(sed -n 's/.*percentile 50.000 = *\([0-9.]*\).*/\1/p' "$out") usec"
}

# sockperf_tp NAME MODE PORT SIZE: throughput A -> B, both ends in MODE, at a
# bounded rate into a large receive buffer: the test is about delivery, and the
# kernel's own socket drops what a descheduled server cannot take in time.
sockperf_tp() {
    local name="$1" mode="$2" port="$3" size="$4" out="$work/$1.client" srv
    mark
    spawn "$work/$name.server" "$XL_NS_B" "$mode" sockperf sr -i "$XL_ADDR_B" -p "$port" --buffer-size 4194304
    srv=$SPAWNED
    wait_bound "$XL_NS_B" "$port"
    check_loaded "$srv" "$mode" "$name server"
    run_in "$XL_NS_A" "$mode" timeout $((RUN_SECONDS + 30)) sockperf tp -i "$XL_ADDR_B" -p "$port" \
        -m "$size" -t "$RUN_SECONDS" --mps 5000 >"$out" 2>&1 ||
        { cat "$out"; xl_fail "$name: sockperf client failed"; }
    # Let the last datagrams arrive before the server counts.
    sleep 0.3
    stop_sockperf "$srv"
    local sent received
    sent="$(sed -n 's/.*Total of \([0-9]*\) messages sent.*/\1/p' "$out")"
    received="$(sed -n 's/.*Total \([0-9]*\) messages received.*/\1/p' "$work/$name.server")"
    [ -n "$sent" ] && [ "$sent" -ge 1000 ] || { cat "$out"; xl_fail "$name: too few messages (${sent:-none})"; }
    # The server counts the warm-up messages too, as does the client's total.
    [ "$sent" = "$received" ] ||
        { cat "$out" "$work/$name.server"; xl_fail "$name: sent $sent, the server received ${received:-?}"; }
    expect_path "$name (into B)" B "$mode" "$received"
    xl_log "ok: $name: $received messages of $size bytes, all delivered"
}

# ---- 1. sockperf, both ends preloaded ----
sockperf_pp "sockperf UDP ping-pong, both preloaded" preload preload 12001
sockperf_pp "sockperf UDP ping-pong --nonblocked, both preloaded" preload preload 12002 --nonblocked
sockperf_tp "sockperf UDP throughput 64 B, both preloaded" preload 12003 64
sockperf_tp "sockperf UDP throughput 1472 B, both preloaded" preload 12004 1472

# ---- 2. one end preloaded, the other plain ----
sockperf_pp "sockperf UDP ping-pong, server preloaded, client plain" preload kernel 12011
sockperf_pp "sockperf UDP ping-pong, client preloaded, server plain" kernel preload 12012

# ---- 3. python3 client and server, IPv4 and IPv6 ----
python_ping() {  # python_ping NAME SMODE CMODE ADDR PORT
    local name="$1" smode="$2" cmode="$3" addr="$4" port="$5" srv count=56
    mark
    spawn "$work/$port.echo.err" "$XL_NS_B" "$smode" "$PY" "$APPS" echo "$addr" "$port" "$work/$port.ready"
    srv=$SPAWNED
    xl_wait_for 100 test -f "$work/$port.ready" || xl_fail "$name: echo server not ready: $(cat "$work/$port.echo.err")"
    run_in "$XL_NS_A" "$cmode" timeout 60 "$PY" "$APPS" ping "$addr" "$port" "$count" ||
        xl_fail "$name: the python3 exchange failed"
    kill "$srv" 2>/dev/null
    wait "$srv" 2>/dev/null
    # Datagrams that fit one 1500-byte frame: 6 of the 7 sizes over IPv4, 5 over
    # IPv6 (its 40-byte header fragments 1472 bytes too); fragments are the kernel's.
    local whole=$((count * 6 / 7))
    [[ "$addr" == *:* ]] && whole=$((count * 5 / 7))
    expect_path "$name (requests into B)" B "$smode" "$whole"
    expect_path "$name (replies into A)" A "$cmode" "$whole"
    xl_log "ok: $name"
}
python_ping "python3 UDP over IPv4, both preloaded" preload preload "$XL_ADDR_B" 12021
python_ping "python3 UDP over IPv6, both preloaded" preload preload "$XL_ADDR6_B" 12022
python_ping "python3 UDP over IPv6, server preloaded, client plain" preload kernel "$XL_ADDR6_B" 12023

# ---- 4. a `kernel udp` rule keeps a flow in the kernel, preloaded or not ----
RULES="$work/kernel.conf"
printf '# this test: the service on %s:12031 stays with the kernel\nkernel udp any %s:12031\n' \
    "$XL_ADDR_B" "$XL_ADDR_B" >"$RULES"
# Both ends preloaded, and both must leave it to the kernel: "rule" is a mode
# that preloads (run_in checks "preload") but expects no redirect.
sockperf_pp_rule() {
    local name="sockperf UDP ping-pong under 'kernel udp any $XL_ADDR_B:12031'" out="$work/rule.client" srv
    mark
    spawn "$work/rule.server" "$XL_NS_B" preload sockperf sr -i "$XL_ADDR_B" -p 12031
    srv=$SPAWNED
    wait_bound "$XL_NS_B" 12031
    check_loaded "$srv" preload "$name"
    expect_socket "$srv" "$XL_ADDR_B:12031" kernel "kernel udp"
    run_in "$XL_NS_A" preload timeout $((RUN_SECONDS + 30)) sockperf pp -i "$XL_ADDR_B" -p 12031 -m 64 \
        -t "$RUN_SECONDS" >"$out" 2>&1 || { cat "$out"; xl_fail "$name: sockperf client failed"; }
    stop_sockperf "$srv"
    grep -q '# dropped messages = 0; # duplicated messages = 0; # out-of-order messages = 0' "$out" ||
        { cat "$out"; xl_fail "$name: messages lost"; }
    expect_path "$name (into B)" B kernel 0
    expect_path "$name (into A)" A kernel 0
    xl_log "ok: $name: carried by the kernel"
}
sockperf_pp_rule
RULES=/dev/null

# ---- 5. multicast: still works, through the kernel ----
GROUP=239.255.18.1  # IPv4 local scope (RFC 2365), routed onto the veth only
xl_in "$XL_NS_A" ip route add 224.0.0.0/4 dev "$XL_IF_A" || xl_fail "cannot route multicast in A"
xl_in "$XL_NS_B" ip route add 224.0.0.0/4 dev "$XL_IF_B" || xl_fail "cannot route multicast in B"
mark
spawn "$work/mc.sink" "$XL_NS_B" preload timeout 60 "$PY" "$APPS" sink "$XL_ADDR_B" 12041 \
    "$work/mc.ready" 300 "$GROUP"
sink=$SPAWNED
xl_wait_for 100 test -f "$work/mc.ready" || xl_fail "multicast receiver not ready: $(cat "$work/mc.sink")"
run_in "$XL_NS_A" preload timeout 60 "$PY" "$APPS" send "$GROUP" 12041 300 "$XL_ADDR_A" >/dev/null ||
    xl_fail "multicast sender failed"
wait "$sink" || xl_fail "multicast: $(cat "$work/mc.sink")"
expect_path "multicast to $GROUP (into B)" B kernel 0
xl_log "ok: multicast $GROUP: 300 datagrams to a preloaded receiver, through the kernel"

# ---- 6. SIGKILL returns a preloaded server's flows to the kernel ----
PORT=12051
mark
spawn "$work/kill.err" "$XL_NS_B" preload "$PY" "$APPS" echo "$XL_ADDR_B" $PORT "$work/kill.ready"
victim=$SPAWNED
xl_wait_for 100 test -f "$work/kill.ready" || xl_fail "SIGKILL: echo server not ready: $(cat "$work/kill.err")"
run_in "$XL_NS_A" kernel timeout 60 "$PY" "$APPS" ping "$XL_ADDR_B" $PORT 14 >/dev/null ||
    xl_fail "SIGKILL: exchange with the preloaded server failed"
expect_path "SIGKILL: the server before the kill" B preload 12
owned_by() {  # owned_by PID: steering entries on B's interface owned by PID
    "$XLANE" flows --json | "$PY" -c '
import json, sys
print(sum(1 for e in json.load(sys.stdin)["entries"]
          if e["interface"] == sys.argv[1] and e["owner_pid"] == int(sys.argv[2])))' "$XL_IF_B" "$1"
}
[ "$(owned_by "$victim")" -ge 1 ] || xl_fail "SIGKILL: xlane flows shows no entry owned by the server ($victim)"
expect_socket "$victim" "$XL_ADDR_B:$PORT" fast
kill -9 "$victim"
wait "$victim" 2>/dev/null
xl_log "SIGKILL: entries of the dead server left before any cleanup: $(owned_by "$victim")"
mark
spawn "$work/kill.sink" "$XL_NS_B" kernel timeout 60 "$PY" "$APPS" sink "$XL_ADDR_B" $PORT \
    "$work/kill2.ready" 200
sink=$SPAWNED
xl_wait_for 100 test -f "$work/kill2.ready" || xl_fail "SIGKILL: plain server could not take port $PORT: $(cat "$work/kill.sink")"
run_in "$XL_NS_A" kernel timeout 60 "$PY" "$APPS" send "$XL_ADDR_B" $PORT 200 >/dev/null ||
    xl_fail "SIGKILL: sender failed"
wait "$sink" || xl_fail "SIGKILL: the plain server on the dead server's port: $(cat "$work/kill.sink")"
expect_path "SIGKILL: the plain server after the kill" B kernel 0
xl_log "SIGKILL: datagrams that still hit the dead server's entry and passed (no XSK): $(no_xsk_moved B)"
xl_in "$XL_NS_B" "$XLANE" status >/dev/null || xl_fail "xlane status failed"
[ "$(owned_by "$victim")" -eq 0 ] ||
    xl_fail "SIGKILL: xlane status left $(owned_by "$victim") steering entries of the dead pid $victim"
xl_log "ok: SIGKILL: a plain server on the same port received all 200 datagrams; xlane status removed the dead entries"
kill "$sink" 2>/dev/null
# ... and the next preloaded process on the interface removes them too, and
# takes the port over on the fast path.
PORT=12052
spawn "$work/kill3.err" "$XL_NS_B" preload "$PY" "$APPS" echo "$XL_ADDR_B" $PORT "$work/kill3.ready"
victim=$SPAWNED
xl_wait_for 100 test -f "$work/kill3.ready" || xl_fail "SIGKILL: echo server not ready: $(cat "$work/kill3.err")"
[ "$(owned_by "$victim")" -ge 1 ] || xl_fail "SIGKILL: xlane flows shows no entry owned by the server ($victim)"
kill -9 "$victim"
wait "$victim" 2>/dev/null
mark
spawn "$work/kill4.err" "$XL_NS_B" preload "$PY" "$APPS" echo "$XL_ADDR_B" $PORT "$work/kill4.ready"
successor=$SPAWNED
xl_wait_for 100 test -f "$work/kill4.ready" || xl_fail "SIGKILL: successor not ready: $(cat "$work/kill4.err")"
run_in "$XL_NS_A" kernel timeout 60 "$PY" "$APPS" ping "$XL_ADDR_B" $PORT 14 >/dev/null ||
    xl_fail "SIGKILL: exchange with the preloaded successor failed$(log_tail)"
expect_path "SIGKILL: the preloaded successor" B preload 12
[ "$(owned_by "$victim")" -eq 0 ] ||
    xl_fail "SIGKILL: the next preloaded process left the entries of the dead pid $victim"
kill "$successor"
wait "$successor" 2>/dev/null
xl_log "ok: SIGKILL: the next preloaded process removed the dead entries and serves the port"

# ---- 7. detach under a running preloaded server ----
PORT=12061
mark
spawn "$work/det.err" "$XL_NS_B" preload "$PY" "$APPS" echo "$XL_ADDR_B" $PORT "$work/det.ready"
server=$SPAWNED
xl_wait_for 100 test -f "$work/det.ready" || xl_fail "detach: echo server not ready: $(cat "$work/det.err")"
run_in "$XL_NS_A" preload timeout 60 "$PY" "$APPS" ping "$XL_ADDR_B" $PORT 14 >/dev/null ||
    xl_fail "detach: exchange before the detach failed"
expect_path "detach: the server before the detach" B preload 12
expect_socket "$server" "$XL_ADDR_B:$PORT" fast
xl_in "$XL_NS_B" "$XLANE" detach "$XL_IF_B" >/dev/null || xl_fail "xlane detach $XL_IF_B failed"
for round in 1 2; do
    run_in "$XL_NS_A" preload timeout 60 "$PY" "$APPS" ping "$XL_ADDR_B" $PORT 28 >/dev/null ||
        xl_fail "detach: the preloaded server stopped answering after xlane detach (round $round)$(log_tail)"
done
kill -0 "$server" 2>/dev/null || xl_fail "detach: the preloaded server died: $(cat "$work/det.err")"
kill "$server"
wait "$server" 2>/dev/null
xl_log "ok: detach: the preloaded server kept answering through the kernel"

xl_log "PASS"
