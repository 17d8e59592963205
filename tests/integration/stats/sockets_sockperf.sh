#!/usr/bin/env bash
# `xlane sockets` and `xlane stats` with a real preloaded program: sockperf's
# UDP server on host B, started with `xlane run`, shows its socket on the fast
# path and counters that move while a kernel sockperf client on A pings it;
# with a rule sending it to the kernel it shows the kernel path and the rule
# as reason. XLANE_STATS_FILE gets its summary at exit, and a SIGKILLed
# server's segment is gone after the next `xlane sockets`.
#   sockets_sockperf.sh XLANE LIBXLANE
XLANE="${1:?usage: sockets_sockperf.sh XLANE LIBXLANE}"
LIB="${2:?usage: sockets_sockperf.sh XLANE LIBXLANE}"
XL_TAG=obs
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib.sh"
xl_require_root
command -v sockperf >/dev/null || xl_fail "sockperf not installed (scripts/deps installs it)"

WORK="$(mktemp -d /tmp/xl-obs-$$.XXXXXX)"
xl_on_exit "rm -rf '$WORK'"
xl_make_hosts
netns_id="netns-$(stat -L -c %i "/run/netns/$XL_NS_B")"
xl_on_exit "rm -rf '/sys/fs/bpf/xlane/$netns_id/$XL_IF_B'; rmdir '/sys/fs/bpf/xlane/$netns_id'"
xl_on_exit "xl_in $XL_NS_B '$XLANE' detach $XL_IF_B"
xl_on_exit "rm -rf '/run/xlane/$netns_id'"
xl_in "$XL_NS_B" "$XLANE" attach "$XL_IF_B" || xl_fail "xlane attach $XL_IF_B failed"

# Starts sockperf's UDP server on B:PORT under `xlane run` (extra env as
# NAME=VALUE arguments) and waits until `xlane sockets` lists its socket;
# sets SERVER (the pid: nsenter, env and xlane run all exec).
start_server() {
    local port="$1"
    shift
    # nsenter itself, not the xl_in function: a function in the background
    # is a subshell, and its pid would not be sockperf's.
    nsenter --net="/run/netns/$XL_NS_B" env XLANE_PRELOAD_LIB="$LIB" "$@" \
        "$XLANE" run -- sockperf sr -i 198.18.0.2 -p "$port" >"$WORK/server.$port.out" 2>&1 &
    SERVER=$!
    xl_on_exit "kill -9 $SERVER"
    for _ in $(seq 100); do
        "$XLANE" sockets --pid "$SERVER" 2>/dev/null | grep -q ":$port " && return 0
        kill -0 "$SERVER" 2>/dev/null || xl_fail "sockperf server died: $(cat "$WORK/server.$port.out")"
        sleep 0.1
    done
    xl_fail "sockperf server on port $port never showed in xlane sockets"
}

# The server's socket on PORT from `xlane stats --json`, as one JSON object.
socket_json() {
    "$XLANE" stats --pid "$SERVER" --json | python3 -c '
import json, sys
doc = json.load(sys.stdin)
port = ":" + sys.argv[1]
found = [s for p in doc["processes"] for s in p["sockets"] if (s["local"] or "").endswith(port)]
assert len(found) == 1, doc
print(json.dumps(found[0]))' "$1"
}
field() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval("d" + sys.argv[2]))' "$1" "$2"; }

ping_server() {  # port seconds: a kernel (not preloaded) client on A
    xl_in "$XL_NS_A" timeout 30 sockperf pp -i 198.18.0.2 -p "$1" -m 64 -t "$2" >"$WORK/client.$1.out" 2>&1
}

# ---- fast path: the row, counters that move as messages flow ----
start_server 11111 XLANE_STATS_FILE="$WORK/summary.%p.jsonl"
"$XLANE" sockets --pid "$SERVER" | tee "$WORK/sockets.txt" >&2
grep -Eq "^$SERVER +sockperf +[0-9]+ udp +198\.18\.0\.2:11111 +\* +fast +-\$" "$WORK/sockets.txt" \
    || xl_fail "sockperf's socket is not shown on the fast path"
before="$(socket_json 11111)"
rx0="$(field "$before" '["counters"]["rx_packets"]')"
ping_server 11111 4 &
CLIENT=$!
# While the client runs (it warms up first): the counter moves...
for _ in $(seq 40); do
    during="$(socket_json 11111)"
    rx1="$(field "$during" '["counters"]["rx_packets"]')"
    [ "$rx1" -gt "$rx0" ] && break
    sleep 0.1
done
wait "$CLIENT" || xl_fail "sockperf client failed: $(cat "$WORK/client.11111.out")"
# ... and has moved further by the time it is done.
after="$(socket_json 11111)"
"$XLANE" stats --pid "$SERVER" >&2
rx2="$(field "$after" '["counters"]["rx_packets"]')"
tx2="$(field "$after" '["counters"]["tx_packets"]')"
xl_log "fast path: rx_packets $rx0 -> $rx1 -> $rx2, tx_packets $tx2"
[ "$rx1" -gt "$rx0" ] && [ "$rx2" -gt "$rx1" ] || xl_fail "rx_packets did not move while messages flowed"
[ "$tx2" -gt 0 ] || xl_fail "tx_packets did not move (the server replies to every ping)"
[ "$(field "$after" '["path"]')" = fast ] || xl_fail "the socket left the fast path"
grep -q "Summary: Latency is" "$WORK/client.11111.out" || xl_fail "no latency from the client"

# SIGKILL: no summary, and the next `xlane sockets` removes the stale segment.
kill -9 "$SERVER"
wait "$SERVER" 2>/dev/null
[ -e "/dev/shm/xlane-stats.$SERVER" ] || xl_fail "segment gone before any reader ran"
"$XLANE" sockets >/dev/null 2>"$WORK/after.err"
grep -q "removed /dev/shm/xlane-stats.$SERVER" "$WORK/after.err" || xl_fail "stale segment not removed"
[ ! -e "/dev/shm/xlane-stats.$SERVER" ] || xl_fail "stale segment still there"

# ---- a rule sends it to the kernel: the rule is the reason ----
echo "kernel udp server 198.18.0.2:11112" >"$WORK/rules"
start_server 11112 XLANE_CONFIG="$WORK/rules" XLANE_STATS_FILE="$WORK/summary.%p.jsonl"
"$XLANE" sockets --pid "$SERVER" | tee "$WORK/sockets2.txt" >&2
grep -Eq "^$SERVER +sockperf +[0-9]+ udp +198\.18\.0\.2:11112 +\* +kernel +rule: $WORK/rules:1: kernel udp server 198\.18\.0\.2/32:11112\$" \
    "$WORK/sockets2.txt" || xl_fail "the rule is not shown as the reason"
ping_server 11112 1 || xl_fail "sockperf client (kernel path) failed: $(cat "$WORK/client.11112.out")"
kernel_side="$(socket_json 11112)"
[ "$(field "$kernel_side" '["counters"]["rx_packets"]')" -gt 0 ] || xl_fail "no counters on the kernel path"

# A normal exit: the summary names the socket, its path, reason and counters.
kill -INT "$SERVER"
for _ in $(seq 50); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SERVER" 2>/dev/null && xl_fail "sockperf did not exit on SIGINT"
[ ! -e "/dev/shm/xlane-stats.$SERVER" ] || xl_fail "segment left after a normal exit"
python3 - "$WORK/summary.$SERVER.jsonl" <<'PYEOF' || xl_fail "XLANE_STATS_FILE: $(cat "$WORK"/summary.*.jsonl)"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
mine = [l for l in lines if l["local"] == "198.18.0.2:11112"]
assert len(mine) == 1, lines
assert mine[0]["path"] == "kernel" and mine[0]["reason"] == "rule", mine[0]
assert mine[0]["rx_packets"] > 0 and mine[0]["tx_packets"] > 0, mine[0]
PYEOF
xl_log "PASS"
