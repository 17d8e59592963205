#!/usr/bin/env bash
# Real TCP programs over the TCP fast path (XLANE_TCP=1): two hosts (network
# namespaces joined by a veth pair), xlane attached on B, programs in B run
# unmodified under libxlane.so against the Linux kernel's TCP in A. Each
# scenario checks the data (python3 compares every echoed byte; curl's file
# against the served one; iperf3's and sockperf's own accounting) and the
# path: XDP flow/bind redirects on B's interface moved while it ran.
#   1. python3 echo client (blocking, and non-blocking through poll and
#      through epoll), IPv4 and IPv6, 1 B .. 3 MB, against a kernel echo
#      server; then under the TCP test hook's faults
#   2. python3 echo server (accept, blocking), kernel clients, IPv4 and IPv6
#   3. curl (preloaded) against python3 -m http.server (kernel), and
#      python3 -m http.server (preloaded) against curl (kernel)
#   4. iperf3 client (preloaded) against a kernel server, both directions
#   5. sockperf TCP ping-pong (blocking and --nonblocked), preloaded client
#      against a kernel server; SO_LINGER {1, 0} sends RST; keepalive set
#      with setsockopt times a silent peer out (ETIMEDOUT)
#   6. a loopback connection of a preloaded program stays on the kernel path
#   6b. real servers: redis-server and memcached (threads, libevent)
#      preloaded against kernel clients; redis-benchmark, curl and wrk
#      preloaded against kernel redis-server and nginx; sendfile and splice
#      into and out of a fast socket; descriptor numbers as on the kernel path
#   7. both ends preloaded: iperf3 both directions, sockperf ping-pong
#
#   preload_apps_tcp.sh LIBXLANE XLANE_BINARY
LIBXLANE="${1:?usage: preload_apps_tcp.sh LIBXLANE XLANE_BINARY}"
XLANE="${2:?usage: preload_apps_tcp.sh LIBXLANE XLANE_BINARY}"
XL_TAG=ptcpa
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"
. "$HERE/apps_lib.sh"
xl_require_root
xl_preload_test_setup
for tool in curl iperf3 sockperf nginx wrk redis-server redis-cli redis-benchmark memcached; do
    command -v "$tool" >/dev/null || xl_fail "$tool is not installed (./scripts/deps installs it)"
done
APPS="$HERE/tcp_apps.py"

xl_make_hosts
xl_attach_xlane "$XLANE" "$XL_NS_B" "$XL_IF_B" >/dev/null
PIDS=()
xl_on_exit 'for p in "${PIDS[@]}"; do kill -9 $p 2>/dev/null; done'

# XL_EXEC=exec (spawn): nsenter, env and the program replace the subshell,
# so SPAWNED is the program's own pid.
preloaded() {  # preloaded CMD...: in B under libxlane.so with the TCP fast path on
    $XL_EXEC nsenter --net="/run/netns/$XL_NS_B" env LD_PRELOAD="$LIBXLANE" XLANE_TCP=1 \
        XLANE_CONFIG=/dev/null XLANE_LOG_FILE="$work/xlane-%p.log" "$@"
}
in_a() { $XL_EXEC nsenter --net="/run/netns/$XL_NS_A" "$@"; }
in_b() { $XL_EXEC nsenter --net="/run/netns/$XL_NS_B" "$@"; }
spawn() {  # spawn OUT CMD...: in the background, killed on exit
    local out="$1"
    shift
    (XL_EXEC=exec "$@") >"$out" 2>&1 &
    SPAWNED=$!
    PIDS+=("$SPAWNED")
}
wait_listen() {  # wait_listen NS PORT
    xl_wait_for 50 sh -c "nsenter --net=/run/netns/$1 ss -Hltn 'sport = :$2' | grep -q LISTEN" ||
        xl_fail "nothing listens on port $2 in $1"
}
redirects() {  # flow + bind redirect packets on B's interface
    "$XLANE" status --json | "$PY" -c '
import json, sys
for a in json.load(sys.stdin)["attachments"]:
    if a["interface"] == sys.argv[1]:
        c = a["counters"]
        print(c["redirect_flow"]["packets"] + c["redirect_bind"]["packets"])' "$XL_IF_B"
}
mark() { MARK=$(redirects); }
expect_fast() {  # expect_fast NAME MIN: at least MIN frames took the fast path since mark
    local now
    now=$(redirects)
    [ $((now - MARK)) -ge "$2" ] || xl_fail "$1: only $((now - MARK)) frames were redirected to the fast path"
    xl_log "$1: OK ($((now - MARK)) frames on the fast path)"
}
show_logs() { cat "$work"/xlane-*.log >&2 2>/dev/null; }

# 1. python3 echo client in B (preloaded), kernel echo server in A.
for family in 4 6; do
    [ $family = 4 ] && server_addr=$XL_ADDR_A || server_addr=$XL_ADDR6_A
    port=$((5100 + family))
    spawn "$work/echo-server-$family.out" in_a "$PY" "$APPS" server "$server_addr" $port 12
    wait_listen "$XL_NS_A" $port
    mark
    for size in 1 1460 100000 3000000; do
        for mode in blocking nonblocking epoll; do
            preloaded timeout 30 "$PY" "$APPS" client "$server_addr" $port $size $mode \
                >"$work/client.out" 2>&1 || { cat "$work/client.out" >&2; show_logs; xl_fail "echo client $mode $size B IPv$family failed"; }
        done
    done
    wait "$SPAWNED" || { cat "$work/echo-server-$family.out" >&2; xl_fail "kernel echo server IPv$family failed"; }
    expect_fast "echo client IPv$family" 100
done

# 1b. The same under the TCP test hook's faults (2% loss, 1% duplication,
#     2% reordering on the preloaded side), 3 MB each way, both modes.
spawn "$work/echo-server-faults.out" in_a "$PY" "$APPS" server "$XL_ADDR_A" 5110 2
wait_listen "$XL_NS_A" 5110
for mode in blocking nonblocking; do
    XLANE_TCP_FAULTS="drop=0.02,dup=0.01,reorder=0.02,seed=5" \
        preloaded timeout 40 "$PY" "$APPS" client "$XL_ADDR_A" 5110 3000000 $mode \
        >"$work/client.out" 2>&1 || { cat "$work/client.out" >&2; show_logs; xl_fail "echo client $mode under injected faults failed"; }
    # TCP_INFO (served by the engine) shows the hook really dropped segments.
    grep -Eq "retrans=[1-9]" "$work/client.out" || { cat "$work/client.out" >&2; xl_fail "no retransmission under injected loss ($mode)"; }
done
wait "$SPAWNED" || xl_fail "kernel echo server (faults) failed"
xl_log "echo client under injected faults: OK"

# drip_client NAME MODE PORT ROUNDS: tcp_apps.py's MODE client, preloaded in
# B, against its drip server (one digit per request) in A's kernel.
drip_client() {
    spawn "$work/drip-$3.out" in_a "$PY" "$APPS" drip "$XL_ADDR_A" "$3" "$4"
    wait_listen "$XL_NS_A" "$3"
    mark
    preloaded timeout 30 "$PY" "$APPS" "$2" "$XL_ADDR_A" "$3" "$4" >"$work/client.out" 2>&1 \
        || { cat "$work/client.out" >&2; show_logs; xl_fail "$1 failed"; }
    wait "$SPAWNED" || { cat "$work/drip-$3.out" >&2; xl_fail "drip server ($1) failed"; }
    expect_fast "$1" "$4"  # at least the answers came through the fast path
}

# 1c. Edge-triggered epoll on a fast socket: each answer of a kernel server
#     raises its own EPOLLIN edge while the earlier ones wait unread.
drip_client "edge-triggered epoll client" edge 5111 5

# 1d. Level-triggered epoll for EPOLLIN while poll() waits for POLLOUT on the
#     same socket in between: each waiter's interest counts, and only while
#     it waits (the idle epoll wait sleeps rather than spins).
drip_client "level-triggered epoll beside poll(POLLOUT)" levels 5112 3

# 2. python3 echo server in B (preloaded), kernel clients in A.
for family in 4 6; do
    [ $family = 4 ] && server_addr=$XL_ADDR_B || server_addr=$XL_ADDR6_B
    port=$((5200 + family))
    spawn "$work/server-$family.out" preloaded timeout 60 "$PY" "$APPS" server "$server_addr" $port 4
    wait_listen "$XL_NS_B" $port
    # `xlane sockets` shows the listener on the fast path.
    "$XLANE" sockets --json | "$PY" -c '
import json, sys
port = sys.argv[1]
hits = [s for s in json.load(sys.stdin)["sockets"]
        if s["proto"] == "tcp" and s["path"] == "fast" and (s["local"] or "").endswith(":" + port)]
sys.exit(0 if hits else 1)' $port || { "$XLANE" sockets >&2; xl_fail "xlane sockets does not show the TCP listener on the fast path"; }
    mark
    for size in 1 100000 3000000 0; do
        in_a timeout 30 "$PY" "$APPS" client "$server_addr" $port $size \
            >"$work/client.out" 2>&1 || { cat "$work/client.out" >&2; show_logs; xl_fail "kernel client of the preloaded server, $size B IPv$family failed"; }
    done
    wait "$SPAWNED" || { cat "$work/server-$family.out" >&2; show_logs; xl_fail "preloaded echo server IPv$family failed"; }
    expect_fast "echo server IPv$family" 100
done

# 2c. A server that forks per connection (socketserver.ForkingTCPServer),
#     preloaded: the connection is established on the fast path, with data
#     both ways, when it forks. XLANE_TCP_FORK=share (default): fork() hands
#     it to the kernel (TCP_REPAIR) and the child serves it. keep: the child
#     leaves it alone and the parent serves it on the fast path.
for who in share keep; do
    port=$((5160 + ${#who}))
    spawn "$work/forking-$who.out" preloaded env XLANE_TCP_FORK=$who XLANE_LOG_LEVEL=info "$PY" "$APPS" forking \
        "$XL_ADDR_B" $port 2 $who
    wait_listen "$XL_NS_B" $port
    mark
    for size in 100000 3000000; do
        in_a timeout 30 "$PY" "$APPS" sized "$XL_ADDR_B" $port $size >"$work/client.out" 2>&1 \
            || { cat "$work/client.out" "$work/forking-$who.out" >&2; show_logs; xl_fail "kernel client of the forking server ($who), $size B failed"; }
    done
    wait "$SPAWNED" || { cat "$work/forking-$who.out" >&2; show_logs; xl_fail "forking server ($who) failed"; }
    expect_fast "forking server ($who)" 10
done
grep -q "fork() handed the connection to the kernel" "$work"/xlane-*.log \
    || { show_logs; xl_fail "share: no connection was handed to the kernel at fork()"; }

# 3. curl and python3 -m http.server, each preloaded in turn.
mkdir -p "$work/www" && head -c 2000000 /dev/urandom >"$work/www/file.bin"
spawn "$work/http-a.out" in_a "$PY" -m http.server --bind "$XL_ADDR_A" --directory "$work/www" 5301
wait_listen "$XL_NS_A" 5301
mark
preloaded timeout 30 curl -sS -o "$work/got-a.bin" "http://$XL_ADDR_A:5301/file.bin" ||
    { show_logs; xl_fail "preloaded curl against the kernel http.server failed"; }
cmp -s "$work/www/file.bin" "$work/got-a.bin" || xl_fail "preloaded curl: the file differs"
expect_fast "curl (preloaded) -> http.server" 100
spawn "$work/http-b.out" preloaded "$PY" -m http.server --bind "$XL_ADDR_B" --directory "$work/www" 5302
wait_listen "$XL_NS_B" 5302
mark
in_a timeout 30 curl -sS -o "$work/got-b.bin" "http://$XL_ADDR_B:5302/file.bin" ||
    { cat "$work/http-b.out" >&2; show_logs; xl_fail "curl against the preloaded http.server failed"; }
cmp -s "$work/www/file.bin" "$work/got-b.bin" || xl_fail "preloaded http.server: the file differs"
expect_fast "curl -> http.server (preloaded)" 100
# One process per interface owns the fast path: the preloaded server leaves.
kill "$SPAWNED"
wait "$SPAWNED" 2>/dev/null

# 4. iperf3: preloaded client, kernel server, both directions.
spawn "$work/iperf3-server.out" in_a iperf3 -s -B "$XL_ADDR_A" -p 5401
wait_listen "$XL_NS_A" 5401
for direction in "" "-R"; do
    mark
    preloaded timeout 30 iperf3 -c "$XL_ADDR_A" -p 5401 -t 2 $direction -J >"$work/iperf3.json" ||
        { show_logs; xl_fail "preloaded iperf3 client $direction failed"; }
    "$PY" -c '
import json, sys
r = json.load(open(sys.argv[1]))
s = r["end"]["sum_received"]
assert s["bytes"] > 1000000, "only %d bytes received" % s["bytes"]
print("%.0f Mbit/s" % (s["bits_per_second"] / 1e6))' "$work/iperf3.json" >"$work/iperf3.rate" ||
        xl_fail "iperf3 $direction: bad result"
    expect_fast "iperf3 ${direction:-forward} ($(cat "$work/iperf3.rate"))" 1000
done

# 5. sockperf TCP ping-pong: preloaded client, kernel server.
spawn "$work/sockperf-server.out" in_a sockperf server --tcp -i "$XL_ADDR_A" -p 5501
wait_listen "$XL_NS_A" 5501
mark
preloaded timeout 30 sockperf ping-pong --tcp -i "$XL_ADDR_A" -p 5501 -t 2 -m 64 >"$work/sockperf.out" 2>&1 ||
    { cat "$work/sockperf.out" >&2; show_logs; xl_fail "preloaded sockperf ping-pong failed"; }
grep -q "percentile 50.000" "$work/sockperf.out" || { cat "$work/sockperf.out" >&2; xl_fail "sockperf printed no latency"; }
expect_fast "sockperf TCP ping-pong ($(grep 'percentile 50.000' "$work/sockperf.out" | sed 's/.*=//'))" 100

# 5b. The same with --nonblocked (non-blocking receive, spinning).
mark
preloaded timeout 30 sockperf ping-pong --tcp --nonblocked -i "$XL_ADDR_A" -p 5501 -t 2 -m 64 >"$work/sockperf.out" 2>&1 ||
    { cat "$work/sockperf.out" >&2; show_logs; xl_fail "preloaded sockperf ping-pong --nonblocked failed"; }
grep -q "percentile 50.000" "$work/sockperf.out" || { cat "$work/sockperf.out" >&2; xl_fail "sockperf --nonblocked printed no latency"; }
expect_fast "sockperf TCP ping-pong --nonblocked ($(grep 'percentile 50.000' "$work/sockperf.out" | sed 's/.*=//'))" 100

# 5c. SO_LINGER {1, 0}: the preloaded client's close resets the connection.
in_a timeout 20 "$PY" -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5701)); s.listen(1); print("listening", flush=True)
c, _ = s.accept()
try:
    while c.recv(65536):
        pass
    print("EOF")
except ConnectionResetError:
    print("RESET")' "$XL_ADDR_A" >"$work/linger-server.out" 2>&1 &
LINGER_SERVER=$!
PIDS+=("$LINGER_SERVER")
wait_listen "$XL_NS_A" 5701
preloaded timeout 20 "$PY" -c '
import socket, struct, sys, time
c = socket.create_connection((sys.argv[1], 5701))
c.sendall(b"x" * 10)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
time.sleep(0.2)
c.close()' "$XL_ADDR_A" || { show_logs; xl_fail "preloaded SO_LINGER client failed"; }
wait "$LINGER_SERVER"
grep -q RESET "$work/linger-server.out" || { cat "$work/linger-server.out" >&2; xl_fail "SO_LINGER {1, 0}: the kernel peer saw no RST"; }
xl_log "SO_LINGER {1, 0}: OK (the kernel peer got ECONNRESET)"

# 5d. setsockopt reaches the engine: SO_KEEPALIVE with TCP_KEEPIDLE=1,
#     TCP_KEEPINTVL=1, TCP_KEEPCNT=2 on a preloaded connection; once the
#     peer's address is gone (its kernel drops our probes silently) the
#     blocked recv fails with ETIMEDOUT after KEEPCNT unanswered probes (the
#     engine's default has no keepalive: without the options it would block
#     until the timeout kills it). getsockopt reads back what Linux would.
in_a timeout 40 "$PY" -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5702)); s.listen(1); print("listening", flush=True)
c, _ = s.accept()
try:
    while c.recv(65536):
        pass
except OSError:
    pass' "$XL_ADDR_A" >"$work/keepalive-server.out" 2>&1 &
PIDS+=($!)
wait_listen "$XL_NS_A" 5702
spawn "$work/keepalive-client.out" preloaded timeout 40 "$PY" -c '
import errno, socket, sys
c = socket.create_connection((sys.argv[1], 5702))
T = socket.IPPROTO_TCP
c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
c.setsockopt(T, socket.TCP_KEEPIDLE, 1)
c.setsockopt(T, socket.TCP_KEEPINTVL, 1)
c.setsockopt(T, socket.TCP_KEEPCNT, 2)
c.setsockopt(T, socket.TCP_CONGESTION, b"reno")
assert c.getsockopt(T, socket.TCP_KEEPCNT) == 2
assert c.getsockopt(T, socket.TCP_CONGESTION, 16).rstrip(b"\0") == b"reno"
try:
    c.setsockopt(T, socket.TCP_CONGESTION, b"no-such-algorithm")
    sys.exit("an unknown TCP_CONGESTION was accepted")
except OSError as e:
    assert e.errno == errno.ENOENT, e
print("ready", flush=True)
try:
    data = c.recv(100)
    print("recv returned", data)
except OSError as e:
    print("errno", errno.errorcode.get(e.errno, e.errno), flush=True)' "$XL_ADDR_A"
KEEPALIVE_CLIENT=$SPAWNED
xl_wait_for 100 grep -q ready "$work/keepalive-client.out" ||
    { cat "$work/keepalive-client.out" >&2; show_logs; xl_fail "keepalive client never got ready"; }
sleep 1.5  # a probe or two answered first
ip -n "$XL_NS_A" -4 addr del "$XL_ADDR_A/24" dev "$XL_IF_A" || xl_fail "cannot remove A's address"
xl_on_exit "ip -n '$XL_NS_A' -4 addr add '$XL_ADDR_A/24' dev '$XL_IF_A' 2>/dev/null"
removed_at=$(date +%s%N)
wait "$KEEPALIVE_CLIENT" || true
elapsed_ms=$((($(date +%s%N) - removed_at) / 1000000))
ip -n "$XL_NS_A" -4 addr add "$XL_ADDR_A/24" dev "$XL_IF_A" || xl_fail "cannot restore A's address"
grep -q "errno ETIMEDOUT" "$work/keepalive-client.out" ||
    { cat "$work/keepalive-client.out" >&2; show_logs; xl_fail "keepalive: no ETIMEDOUT (${elapsed_ms} ms)"; }
# KEEPCNT * KEEPINTVL at least; at most KEEPIDLE + KEEPCNT * KEEPINTVL plus slack.
[ "$elapsed_ms" -ge 1500 ] && [ "$elapsed_ms" -le 8000 ] ||
    xl_fail "keepalive: ETIMEDOUT after $elapsed_ms ms, expected 2 to 3 s"
xl_wait_for 50 xl_in "$XL_NS_A" ping -c1 -W1 -q "$XL_ADDR_B" >/dev/null 2>&1 ||
    xl_fail "A's address did not come back"
xl_log "keepalive via setsockopt: OK (ETIMEDOUT $elapsed_ms ms after the peer went silent)"

# 2b. A pre-forking server (listener made before fork(), only the children
#     accept, as nginx's workers): new connections must reach the children,
#     so fork() hands the listener's new connections to the kernel.
spawn "$work/prefork.out" preloaded env XLANE_LOG_LEVEL=info timeout 60 "$PY" "$APPS" prefork "$XL_ADDR_B" 5210 2
wait_listen "$XL_NS_B" 5210
xl_wait_for 50 grep -q listening "$work/prefork.out" || xl_fail "pre-fork server never forked"
for i in 1 2 3 4 5 6; do
    in_a timeout 10 "$PY" "$APPS" client "$XL_ADDR_B" 5210 20000 >"$work/prefork-client.out" 2>&1 ||
        { cat "$work/prefork-client.out" "$work/prefork.out" >&2; show_logs; xl_fail "client $i of the pre-forking server got no echo"; }
done
wait "$SPAWNED" || { cat "$work/prefork.out" >&2; xl_fail "pre-forking server failed"; }
served=$(awk '$1 == "worker" {n += $4} END {print n + 0}' "$work/prefork.out")
[ "$served" = 6 ] || { cat "$work/prefork.out" >&2; xl_fail "the workers served $served of 6 connections"; }
grep -q "fork() shares the listener" "$work"/xlane-*.log ||
    { show_logs; xl_fail "the listener's hand-off at fork() is not in the log"; }
xl_log "pre-forking server: OK (6 connections served by the workers through the kernel)"

# 6. Loopback stays with the kernel: a preloaded client of a server in B itself.
spawn "$work/lo-server.out" in_b "$PY" "$APPS" server 127.0.0.1 5601 1
wait_listen "$XL_NS_B" 5601
mark
preloaded timeout 30 "$PY" "$APPS" client 127.0.0.1 5601 100000 ||
    { show_logs; xl_fail "preloaded loopback client failed"; }
[ "$(redirects)" = "$MARK" ] || xl_fail "loopback traffic went through the fast path"
xl_log "loopback: OK (kernel path)"

# 6b. Real servers and clients on the fast path. One process at a time owns
#     B's AF_XDP sockets, so each stops before the next starts.
XL_APP_FAILURE_HOOK=show_logs
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
mark
spawn "$work/redis-b.out" preloaded redis-server --port 5701 --bind "$XL_ADDR_B" --save "" \
    --appendonly no --dir "$work" --protected-mode no
redis_pid=$SPAWNED
wait_listen "$XL_NS_B" 5701
xl_redis_value in_a "$XL_ADDR_B" 5701 "$work"
xl_redis_counts in_a in_a "$XL_ADDR_B" 5701 "$work"
stop "$redis_pid"
expect_fast "redis-server (preloaded) with redis-cli and redis-benchmark" 1000

mark
spawn "$work/memcached.out" preloaded memcached -u root -l "$XL_ADDR_B" -p 5702 -U 0 -m 128 -I 2m -t 2
mc_pid=$SPAWNED
wait_listen "$XL_NS_B" 5702
in_a timeout 60 "$PY" "$HERE/memcache_check.py" "$XL_ADDR_B" 5702 ||
    { show_logs; xl_fail "memcached (preloaded): values differ"; }
stop "$mc_pid"
expect_fast "memcached (preloaded, 2 threads)" 1000

mark
spawn "$work/redis-a.out" in_a redis-server --port 5703 --bind "$XL_ADDR_A" --save "" \
    --appendonly no --dir "$work" --protected-mode no
redis_pid=$SPAWNED
wait_listen "$XL_NS_A" 5703
xl_redis_counts preloaded in_a "$XL_ADDR_A" 5703 "$work"
stop "$redis_pid"
expect_fast "redis-benchmark (preloaded)" 1000

# sendfile() into a fast socket: read from the file and sent through the
# engine (the kernel's sendfile would write into the unconnected shadow);
# with an offset, from the file position, and non-blocking.
spawn "$work/sendfile.out" preloaded "$PY" "$APPS" sendfile "$XL_ADDR_B" 5705 3000000
sendfile_pid=$SPAWNED
wait_listen "$XL_NS_B" 5705
mark
in_a timeout 30 "$PY" "$APPS" fetch "$XL_ADDR_B" 5705 3000000 >"$work/fetch.out" 2>&1 ||
    { cat "$work/fetch.out" "$work/sendfile.out" >&2; show_logs; xl_fail "sendfile (preloaded): the client got wrong bytes"; }
wait "$sendfile_pid" || { cat "$work/sendfile.out" >&2; show_logs; xl_fail "sendfile (preloaded) failed"; }
expect_fast "sendfile (preloaded): $(tail -1 "$work/sendfile.out")" 100

# splice() between a pipe and a fast socket, both ways, blocking and not
# (the kernel's splice read and wrote the unconnected shadow: EPIPE).
spawn "$work/splice.out" preloaded "$PY" "$APPS" splice "$XL_ADDR_B" 5707 2000000
splice_pid=$SPAWNED
wait_listen "$XL_NS_B" 5707
mark
in_a timeout 30 "$PY" "$APPS" client "$XL_ADDR_B" 5707 2000000 nonblocking >"$work/splice-client.out" 2>&1 ||
    { cat "$work/splice-client.out" "$work/splice.out" >&2; show_logs; xl_fail "splice (preloaded): the client got wrong bytes"; }
wait "$splice_pid" || { cat "$work/splice.out" >&2; show_logs; xl_fail "splice (preloaded) failed"; }
expect_fast "splice (preloaded): $(tail -1 "$work/splice.out")" 100

# The library's own descriptors sit above the program's (common/high_fd.h):
# 40 fast connections get the numbers they get on the kernel path, give or
# take the AF_XDP sockets (libxdp makes them at the lowest free numbers).
# Before, each fast socket's eventfd and the engine's ~16 descriptors took
# numbers in between (highest about 40 + 40 + 16).
highest_fd() {  # highest_fd RUN: the highest socket number of a client run by RUN
    "$1" timeout 30 "$PY" "$APPS" fds "$XL_ADDR_A" 5708 40 >"$work/fds.out" 2>&1 ||
        { cat "$work/fds.out" >&2; show_logs; xl_fail "fds ($1): failed"; }
    sed -n 's/^OK .*highest descriptor \([0-9]*\)$/\1/p' "$work/fds.out"
}
spawn "$work/hold.out" in_a "$PY" "$APPS" hold "$XL_ADDR_A" 5708 128
hold_pid=$SPAWNED
wait_listen "$XL_NS_A" 5708
kernel_highest=$(highest_fd in_b)
mark
fast_highest=$(highest_fd preloaded)
expect_fast "40 connections preloaded" 40
stop "$hold_pid"
[ -n "$kernel_highest" ] && [ -n "$fast_highest" ] || xl_fail "fds: no descriptor numbers"
[ "$fast_highest" -le $((kernel_highest + 4)) ] ||
    xl_fail "fds: the preloaded client's sockets reached $fast_highest, the kernel path's $kernel_highest"
xl_log "descriptor numbers: highest $fast_highest preloaded, $kernel_highest on the kernel path: OK"

mkdir -p "$work/html"
head -c 24000000 /dev/urandom >"$work/html/big.bin"
head -c 100000 /dev/urandom >"$work/html/medium.bin"
# fetch_big RUN ADDR ADDR6 PORT NAME: curl (run by RUN: in_a or preloaded)
# gets big.bin from nginx on PORT at both addresses, byte for byte.
fetch_big() {
    local host
    for host in "$2" "[$3]"; do
        "$1" timeout 30 curl -sSf -o "$work/curl-big" "http://$host:$4/big.bin" ||
            { show_logs; xl_fail "$5: curl of big.bin at $host failed"; }
        cmp -s "$work/curl-big" "$work/html/big.bin" || xl_fail "$5: big.bin at $host differs"
    done
}
# nginx_dir PORT: a directory for one nginx (pid, log, temporary files).
nginx_dir() { mkdir -p "$work/nginx-$1/nginx-temp" && echo "$work/nginx-$1"; }

# nginx_scenario SERVER_RUN CLIENT_RUN NS ADDR ADDR6 PORT MASTER NAME: nginx
# (run by SERVER_RUN in NS, master_process MASTER) on PORT at both
# addresses; curl (run by CLIENT_RUN) gets big.bin byte for byte, then wrk
# with two threads of 4 connections; at least 1000 frames on the fast path.
# wrk sizes each thread's event table from its connection count (10 + 3 per
# connection): until the library's own descriptors moved above the
# program's (common/high_fd.h), a preloaded wrk's sockets fell outside that
# table and counted as connect errors (3 in 2 s). Leaves NGINX_DIR set.
nginx_scenario() {
    NGINX_DIR=$(nginx_dir "$6")
    xl_nginx_conf "$NGINX_DIR/nginx.conf" "$work/html" "$NGINX_DIR" "$7" "$4:$6" "[$5]:$6"
    mark
    spawn "$NGINX_DIR/nginx.out" "$1" nginx -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf"
    local pid=$SPAWNED
    wait_listen "$3" "$6"
    fetch_big "$2" "$4" "$5" "$6" "$8"
    xl_wrk "$2" 2 8 "http://$4:$6/medium.bin" "$work/wrk.out"
    stop "$pid"
    expect_fast "$8" 1000
}

# One process (master_process off): with workers, their connections take the
# kernel path (README, "fork").
nginx_scenario preloaded in_a "$XL_NS_B" "$XL_ADDR_B" "$XL_ADDR6_B" 5706 off "nginx (preloaded, sendfile) with curl and wrk"
xl_nginx_clean "$NGINX_DIR"
nginx_scenario in_a preloaded "$XL_NS_A" "$XL_ADDR_A" "$XL_ADDR6_A" 5704 on "curl and wrk (preloaded) against nginx"

# 7. Both ends preloaded: xlane on A too, iperf3 and sockperf servers in A
#    under libxlane.so (select; blocking recvfrom), clients in B.
xl_attach_xlane "$XLANE" "$XL_NS_A" "$XL_IF_A" >/dev/null
preloaded_a() {
    $XL_EXEC nsenter --net="/run/netns/$XL_NS_A" env LD_PRELOAD="$LIBXLANE" XLANE_TCP=1 \
        XLANE_CONFIG=/dev/null XLANE_LOG_FILE="$work/xlane-%p.log" "$@"
}
spawn "$work/iperf3-server-a.out" preloaded_a iperf3 -s -B "$XL_ADDR_A" -p 5402
wait_listen "$XL_NS_A" 5402
for direction in "" "-R"; do
    mark
    preloaded timeout 30 iperf3 -c "$XL_ADDR_A" -p 5402 -t 2 $direction -J >"$work/iperf3.json" ||
        { show_logs; xl_fail "iperf3 $direction with both ends preloaded failed"; }
    "$PY" -c '
import json, sys
s = json.load(open(sys.argv[1]))["end"]["sum_received"]
assert s["bytes"] > 1000000, "only %d bytes received" % s["bytes"]
print("%.0f Mbit/s" % (s["bits_per_second"] / 1e6))' "$work/iperf3.json" >"$work/iperf3.rate" ||
        xl_fail "iperf3 $direction (both preloaded): bad result"
    expect_fast "iperf3 ${direction:-forward}, both ends preloaded ($(cat "$work/iperf3.rate"))" 1000
done
kill "$SPAWNED"
wait "$SPAWNED" 2>/dev/null
spawn "$work/sockperf-server-a.out" preloaded_a sockperf server --tcp -i "$XL_ADDR_A" -p 5502
wait_listen "$XL_NS_A" 5502
mark
preloaded timeout 30 sockperf ping-pong --tcp -i "$XL_ADDR_A" -p 5502 -t 2 -m 64 >"$work/sockperf.out" 2>&1 ||
    { cat "$work/sockperf.out" "$work/sockperf-server-a.out" >&2; show_logs; xl_fail "sockperf with both ends preloaded failed"; }
grep -q "percentile 50.000" "$work/sockperf.out" || { cat "$work/sockperf.out" >&2; xl_fail "sockperf (both preloaded) printed no latency"; }
expect_fast "sockperf TCP ping-pong, both ends preloaded ($(grep 'percentile 50.000' "$work/sockperf.out" | sed 's/.*=//'))" 100
xl_log "all preloaded TCP application checks passed"
