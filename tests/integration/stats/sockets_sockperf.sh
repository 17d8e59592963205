#!/usr/bin/env bash
# `xlane sockets` and `xlane stats` with a real preloaded program: sockperf's
# UDP server on host B, started with `xlane run`, shows its socket on the fast
# path and counters that move while a kernel sockperf client on A pings it;
# with a rule sending it to the kernel it shows the kernel path and the rule
# as reason. XLANE_STATS_FILE gets its summary at exit, and a SIGKILLed
# server's segment is gone after the next `xlane sockets`.
# counters_probe, preloaded too, makes the drop and poll counters and the
# ring/UMEM tables move for certain (a sink that never reads, a poller).
#   sockets_sockperf.sh XLANE LIBXLANE COUNTERS_PROBE
XLANE="${1:?usage: sockets_sockperf.sh XLANE LIBXLANE COUNTERS_PROBE}"
LIB="${2:?usage: sockets_sockperf.sh XLANE LIBXLANE COUNTERS_PROBE}"
COUNTERS_PROBE="${3:?usage: sockets_sockperf.sh XLANE LIBXLANE COUNTERS_PROBE}"
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
        xl_output_has ":$port " "$XLANE" sockets --pid "$SERVER" 2>/dev/null && return 0
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

# (sockperf's one-socket server blocks in recvfrom, no poll/epoll: its poll
# counters stay 0; counters_probe below covers the multiplexers.)

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
# ---- drops, poll hits/misses, ring and UMEM use: counters_probe ----
nsenter --net="/run/netns/$XL_NS_B" env XLANE_PRELOAD_LIB="$LIB" \
    "$XLANE" run -- "$COUNTERS_PROBE" 11121 11122 20 >"$WORK/probe.out" 2>&1 &
PROBE=$!
xl_on_exit "kill -9 $PROBE"
for _ in $(seq 100); do
    grep -q '^ready' "$WORK/probe.out" && break
    kill -0 "$PROBE" 2>/dev/null || xl_fail "counters_probe died: $(cat "$WORK/probe.out")"
    sleep 0.1
done
grep -q '^ready' "$WORK/probe.out" || xl_fail "counters_probe never became ready"
# A kernel sender on A: 200 x 1000 B into the sink's 4 KiB queue, 20 to the poller.
xl_in "$XL_NS_A" python3 - <<'PYEOF' || xl_fail "sender on A failed"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(200):
    s.sendto(b"s" * 1000, ("198.18.0.2", 11121))
for i in range(20):
    s.sendto(b"p" * 100, ("198.18.0.2", 11122))
PYEOF
for _ in $(seq 100); do
    grep -q '^polled' "$WORK/probe.out" && break
    kill -0 "$PROBE" 2>/dev/null || xl_fail "counters_probe died: $(cat "$WORK/probe.out")"
    sleep 0.1
done
grep -q '^polled 20$' "$WORK/probe.out" || xl_fail "counters_probe did not read its 20: $(cat "$WORK/probe.out")"
# The lost datagram waits neighbour_wait (1 s) for ARP; the tables refresh every 200 ms.
python3 - "$XLANE" "$PROBE" "$WORK" "$XL_IF_B" <<'PYEOF' || xl_fail "counters of counters_probe (see above)"
import json, subprocess, sys, time
xlane, pid, work, ifname = sys.argv[1:5]
def stats():
    return json.loads(subprocess.check_output([xlane, "stats", "--pid", pid, "--json"]))
def by_port(doc, port):
    return [s for p in doc["processes"] for s in p["sockets"] if (s["local"] or "").endswith(":%d" % port)][0]
deadline = time.time() + 10
while True:
    doc = stats()
    proc = doc["processes"][0]
    sink, poller = by_port(doc, 11121), by_port(doc, 11122)
    ports = proc["interfaces"]
    done = (poller["counters"]["tx_drops"] >= 1 and ports and ports[0]["rx_frames"] >= 220
            and ports[0]["rx_dropped_queue_full"] >= 1)
    if done or time.time() > deadline:
        break
    time.sleep(0.2)
json.dump(doc, open(work + "/probe_stats.json", "w"), indent=1)
c = sink["counters"]
assert sink["path"] == "fast" and poller["path"] == "fast", (sink, poller)
# Drops: counted per socket as the engine drops (queue over SO_RCVBUF).
assert c["rx_drops"] >= 100 and c["rx_packets"] == 0, c
assert c["rx_drops"] + proc["queues"][0]["kernel"]["rx_dropped"] <= 200, c
c = poller["counters"]
# The first poll (nothing sent yet) missed; after the pause each of the 19
# later polls and epoll_waits found a datagram waiting: hits.
assert c["poll_misses"] >= 1 and c["poll_hits"] >= 19, c
assert c["poll_hits"] + c["poll_misses"] <= 21, c
assert c["rx_packets"] == 20 and c["tx_drops"] == 1, c
# Interfaces: the engine's counters; queues: rings and UMEM of each AF_XDP socket.
port = ports[0]
assert port["interface"] == ifname and port["queues"] >= 1, port
assert port["rx_frames"] >= 220 and port["rx_dropped_queue_full"] >= 100, port
assert port["rx_delivered"] >= 20, port
assert set(port) >= {"tx_frames", "tx_ring_full", "rx_dropped_no_socket", "rx_dropped_bad"}, port
queue = proc["queues"][0]
assert queue["interface"] == port["interface"] and queue["umem_frames"] > 0, queue
assert queue["fill_ring"]["size"] > 0 and 0 < queue["fill_ring"]["used"] <= queue["fill_ring"]["size"], queue
assert queue["rx_ring"]["size"] > 0 and queue["completion_ring"]["size"] > 0, queue
assert queue["umem_frames_in_use"] == queue["umem_frames"] - queue["umem_frames_free"], queue
assert set(queue["kernel"]) == {"rx_dropped", "rx_invalid", "tx_invalid", "rx_ring_full",
                                "fill_ring_empty", "tx_ring_empty"}, queue
assert proc["sampled_realtime_ns"] > 0, proc
# xlane sockets --json: the same counters per socket, the same tables per process.
sockets = json.loads(subprocess.check_output([xlane, "sockets", "--pid", pid, "--json"]))
mine = [s for s in sockets["sockets"] if (s["local"] or "").endswith(":11121")][0]
assert mine["counters"]["rx_drops"] >= 100, mine
assert {"interfaces", "queues", "sampled_realtime_ns"} <= set(sockets["processes"][0]), sockets
print("counters_probe: sink rx_drops %d, poller hits %d misses %d tx_drops %d; port rx %d "
      "(queue full %d); queue 0 fill ring %d/%d, UMEM %d/%d in use" % (
          sink["counters"]["rx_drops"], c["poll_hits"], c["poll_misses"], c["tx_drops"],
          port["rx_frames"], port["rx_dropped_queue_full"], queue["fill_ring"]["used"],
          queue["fill_ring"]["size"], queue["umem_frames_in_use"], queue["umem_frames"]))
PYEOF
"$XLANE" stats --pid "$PROBE" | tee "$WORK/probe_stats.txt" >&2
grep -Eq "^  port $XL_IF_B: .*dropped: [1-9][0-9]* queue full" "$WORK/probe_stats.txt" || xl_fail "xlane stats: no port line"
grep -Eq "^    queue $XL_IF_B/0: rings used rx [0-9]+/[0-9]+ tx" "$WORK/probe_stats.txt" || xl_fail "xlane stats: no queue line"
kill -TERM "$PROBE"
wait "$PROBE" || xl_fail "counters_probe failed: $(cat "$WORK/probe.out")"
xl_log "PASS"
