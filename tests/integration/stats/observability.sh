#!/usr/bin/env bash
# `xlane sockets` and `xlane stats` against stats_probe, a process that
# publishes two sockets through the same publisher libxlane.so uses:
# the table, --json fields, counters that move, --watch rates,
# XLANE_STATS_FILE at exit, removal of a killed process's segment, and that
# another user does not see them. Needs no root (the other-user part does).
#   observability.sh XLANE_TOOL STATS_PROBE
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

XLANE="$1"
PROBE="$2"
work="$(mktemp -d /tmp/xl-obs-XXXXXX)"
xl_on_exit "rm -rf '$work'"
PY=/usr/bin/python3

# Starts the probe (extra env as arguments) and waits for "ready"; sets PROBE_PID.
start_probe() {
    env "$@" "$PROBE" >"$work/probe.out" 2>&1 &
    PROBE_PID=$!
    xl_on_exit "kill -9 $PROBE_PID"
    for _ in $(seq 100); do
        grep -q '^ready' "$work/probe.out" 2>/dev/null && return 0
        kill -0 "$PROBE_PID" 2>/dev/null || xl_fail "stats_probe died: $(cat "$work/probe.out")"
        sleep 0.05
    done
    xl_fail "stats_probe never became ready"
}

start_probe
segment="/dev/shm/xlane-stats.$PROBE_PID"
[ -f "$segment" ] || xl_fail "no segment $segment"
mode="$(stat -c %a "$segment")"
[ "$mode" = 600 ] || xl_fail "segment mode is $mode, expected 600"

# ---- the table ----
"$XLANE" sockets --pid "$PROBE_PID" >"$work/sockets.txt"
cat "$work/sockets.txt" >&2
head -1 "$work/sockets.txt" | grep -q 'PID .*COMMAND .*FD .*PROTO .*LOCAL .*REMOTE .*PATH .*REASON' \
    || xl_fail "no header in xlane sockets"
grep -Eq "^$PROBE_PID +stats_probe +3 udp +198\.18\.0\.2:11111 +\* +fast +-\$" "$work/sockets.txt" \
    || xl_fail "fast-path socket row missing or wrong"
grep -Eq "^$PROBE_PID +stats_probe +4 tcp +198\.18\.0\.2:40000 +198\.18\.0\.1:7000 +kernel +rule: XLANE_CONFIG:1: kernel tcp client 198\.18\.0\.1/32:7000\$" \
    "$work/sockets.txt" || xl_fail "kernel-path socket row missing or wrong"

# ---- --json: the documented fields ----
"$XLANE" sockets --pid "$PROBE_PID" --json >"$work/sockets.json"
"$PY" - "$work/sockets.json" "$PROBE_PID" <<'PYEOF' || xl_fail "xlane sockets --json"
import json, sys
doc = json.load(open(sys.argv[1])); pid = int(sys.argv[2])
assert set(doc) >= {"sockets", "processes", "removed_stale", "hidden_processes"}, doc.keys()
socks = doc["sockets"]
assert len(socks) == 2, socks
fields = {"pid", "comm", "fd", "proto", "family", "local", "remote", "path", "reason", "reason_text",
          "counters"}
for s in socks:
    assert set(s) == fields, s
    assert s["pid"] == pid and s["comm"] == "stats_probe"
fast, kern = socks
assert (fast["fd"], fast["proto"], fast["family"], fast["local"], fast["remote"], fast["path"], fast["reason"]) == \
    (3, "udp", "inet", "198.18.0.2:11111", None, "fast", "none"), fast
assert (kern["path"], kern["reason"], kern["remote"]) == ("kernel", "rule", "198.18.0.1:7000"), kern
assert kern["reason_text"] == "XLANE_CONFIG:1: kernel tcp client 198.18.0.1/32:7000"
PYEOF

# ---- counters move; --watch shows rates ----
"$XLANE" stats --pid "$PROBE_PID" --json >"$work/stats1.json"
sleep 0.3
"$XLANE" stats --pid "$PROBE_PID" --json >"$work/stats2.json"
"$XLANE" stats --pid "$PROBE_PID" --watch 0.3 --count 2 --json >"$work/watch.jsonl"
"$XLANE" stats --pid "$PROBE_PID" >"$work/stats.txt"
cat "$work/stats.txt" >&2
grep -Eq "^ +3 udp +198\.18\.0\.2:11111 +\* +fast +[0-9]+" "$work/stats.txt" || xl_fail "xlane stats text"
grep -q '^loopback:' "$work/stats.txt" || xl_fail "no loopback section in xlane stats"
"$PY" - "$work" "$PROBE_PID" <<'PYEOF' || xl_fail "xlane stats --json"
import json, sys
work, pid = sys.argv[1], int(sys.argv[2])
def sockets(doc):
    procs = [p for p in doc["processes"] if p["pid"] == pid]
    assert len(procs) == 1, doc
    assert set(procs[0]) >= {"pid", "comm", "uid", "start_time", "segment", "interfaces", "queues",
                             "sampled_realtime_ns", "sockets"}
    return procs[0]["sockets"]
one = sockets(json.load(open(f"{work}/stats1.json")))
two = sockets(json.load(open(f"{work}/stats2.json")))
names = {"rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "rx_drops", "tx_drops",
         "rx_eagain", "tx_eagain", "poll_hits", "poll_misses"}
assert set(one[0]["counters"]) == names, one[0]["counters"]
assert two[0]["counters"]["rx_packets"] > one[0]["counters"]["rx_packets"] > 0
assert two[0]["counters"]["rx_bytes"] == 64 * two[0]["counters"]["rx_packets"] or \
    two[0]["counters"]["rx_bytes"] >= one[0]["counters"]["rx_bytes"]
assert two[1]["counters"]["rx_eagain"] > one[1]["counters"]["rx_eagain"]
doc = json.load(open(f"{work}/stats1.json"))
assert {"xdp", "loopback", "interval_seconds"} <= set(doc), doc.keys()
lines = [json.loads(l) for l in open(f"{work}/watch.jsonl")]
assert len(lines) == 2, lines
for line in lines:
    assert 0.2 < line["interval_seconds"] < 5, line["interval_seconds"]
    rates = sockets(line)[0]["rates"]
    assert rates["rx_packets_per_second"] > 0, rates
PYEOF

# ---- another user sees nothing of it ----
if [ "$(id -u)" = 0 ] && setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$XLANE" 2>/dev/null; then
    setpriv --reuid=65534 --regid=65534 --clear-groups "$XLANE" sockets --pid "$PROBE_PID" --json \
        >"$work/other.json" 2>/dev/null
    "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["sockets"]==[] and d["hidden_processes"]==1, d' \
        "$work/other.json" || xl_fail "another user could see the probe's sockets"
    [ -f "$segment" ] || xl_fail "another user's xlane removed a live segment"
else
    xl_log "not root or $XLANE not executable by nobody: other-user check left to stats_unit_test"
fi

# ---- SIGKILL: the next reader removes the stale segment ----
kill -9 "$PROBE_PID"
wait "$PROBE_PID" 2>/dev/null || true
[ -f "$segment" ] || xl_fail "segment vanished before any reader ran"
"$XLANE" sockets >"$work/after.txt" 2>"$work/after.err"
grep -q "removed $segment" "$work/after.err" || xl_fail "stale segment not reported: $(cat "$work/after.err")"
[ ! -e "$segment" ] || xl_fail "stale segment $segment still there"
if grep -Eq "^$PROBE_PID " "$work/after.txt"; then xl_fail "killed process still listed"; fi

# ---- XLANE_STATS_FILE: summary at a normal exit, segment removed ----
start_probe XLANE_STATS_FILE="$work/summary.%p.jsonl"
segment="/dev/shm/xlane-stats.$PROBE_PID"
sleep 0.1
kill -TERM "$PROBE_PID"
wait "$PROBE_PID" || xl_fail "stats_probe exited with $?"
[ ! -e "$segment" ] || xl_fail "segment left behind after a normal exit"
"$PY" - "$work/summary.$PROBE_PID.jsonl" <<'PYEOF' || xl_fail "XLANE_STATS_FILE summary"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert [l["event"] for l in lines] == ["exit", "exit"], lines
assert lines[0]["fd"] == 3 and lines[0]["path"] == "fast" and lines[0]["rx_packets"] > 0, lines[0]
assert lines[1]["reason"] == "rule", lines[1]
PYEOF
xl_log "PASS"
