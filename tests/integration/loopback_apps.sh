#!/bin/bash
# Real servers through the loopback path: nginx (sendfile, epoll, keep-alive,
# two worker processes) with curl and wrk, redis-server with redis-cli and
# redis-benchmark, memcached with a python3 client; once as they are, once
# all under libxlane.so. Each must give every byte back (checksums, exact
# counters), and the path must have carried the traffic (sockets inserted,
# messages redirected).
#   loopback_apps.sh XLANE_BIN LIBXLANE
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"
xl_require_root
XLANE="$1"
LIBXLANE="$2"
[ -x "$XLANE" ] && [ -f "$LIBXLANE" ] || xl_fail "usage: $0 XLANE_BIN LIBXLANE"
XL_TAG=la
for tool in nginx curl wrk redis-server redis-cli redis-benchmark memcached python3; do
    command -v "$tool" >/dev/null || xl_fail "$tool is not installed (./scripts/deps installs it)"
done

CG_ROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CG_ROOT" ] || xl_fail "no cgroup2 hierarchy mounted"
CG="$CG_ROOT/xlane-test-la-$$"
mkdir "$CG" || xl_fail "cannot create cgroup $CG"
xl_on_exit "for p in \$(cat $CG/cgroup.procs 2>/dev/null); do kill -9 \$p; done; sleep 0.2; rmdir $CG"
xl_make_ns a NS
work="$(mktemp -d)"
xl_on_exit "rm -rf '$work'"
xl_on_exit "xl_in $NS $XLANE loopback disable"
xl_in "$NS" "$XLANE" loopback enable --cgroup "$CG" >/dev/null || xl_fail "enable failed"

# Runs a command inside the test cgroup and namespace, under libxlane.so
# when PRELOAD=1 (no rules file: nothing of this host's /etc/xlane.conf).
PRELOAD=0
in_cg() {
    local pre=()
    [ "$PRELOAD" = 1 ] && pre=(env "LD_PRELOAD=$LIBXLANE" XLANE_CONFIG=/dev/null)
    bash -c 'echo $$ > "$0/cgroup.procs" && exec nsenter --net="/run/netns/$1" "${@:2}"' \
        "$CG" "$NS" "${pre[@]}" "$@"
}
counter() {  # counter NAME -> count of a loopback counter
    xl_in "$NS" "$XLANE" loopback status --json |
        python3 -c "import json,sys; print(json.load(sys.stdin)['counters']['$1']['count'])"
}
listening() {  # listening PORT: something in the namespace listens on TCP PORT
    xl_output_has ":$1 " xl_in "$NS" ss -Htln
}
# carried NAME INSERTED_BEFORE REDIRECTED_BEFORE: the program's connections
# were inserted and some of their messages redirected.
carried() {
    local ins red
    ins=$(counter inserted)
    red=$(counter redirected)
    [ "$ins" -gt "$2" ] || xl_fail "$1: no socket was inserted into the loopback path"
    [ "$red" -gt "$3" ] || xl_fail "$1: no message took the loopback path"
    xl_log "$1 ($MODE): ok ($((ins - $2)) sockets inserted, $((red - $3)) messages redirected)"
}
sum() { sha256sum "$1" | cut -d' ' -f1; }

# run_apps MODE PORT_BASE: the three servers and their clients, in MODE
# ("plain" or "preloaded"), on ports PORT_BASE+11, +79, +80.
run_apps() {
    MODE="$1"
    P="$2"
    PRELOAD=0
    [ "$MODE" = preloaded ] && PRELOAD=1
    local w="$work/$MODE"
    mkdir -p "$w"
    # ---- nginx: static files by sendfile(), keep-alive, IPv4 and IPv6 ----
    ins0=$(counter inserted)
    red0=$(counter redirected)
    mkdir -p "$w/html" "$w/nginx-temp"
    head -c 1 /dev/urandom >"$w/html/one.bin"
    head -c 1000 /dev/urandom >"$w/html/small.bin"
    head -c 100000 /dev/urandom >"$w/html/medium.bin"
    head -c 24000000 /dev/urandom >"$w/html/big.bin"
    cat >"$w/nginx.conf" <<EOF
    daemon off;
    master_process on;
    worker_processes 2;
    user root;
    pid $w/nginx.pid;
    error_log $w/nginx-error.log warn;
    events { worker_connections 256; }
    http {
        access_log off;
        sendfile on;
        tcp_nopush on;
        keepalive_requests 100000;
        default_type application/octet-stream;
        client_body_temp_path $w/nginx-temp/body;
        proxy_temp_path $w/nginx-temp/proxy;
        server {
            listen 127.0.0.1:$((P + 80));
            listen [::1]:$((P + 80));
            root $w/html;
        }
    }
EOF
    in_cg nginx -p "$work" -c "$w/nginx.conf" >"$w/nginx.out" 2>&1 &
    xl_wait_for 100 listening $((P + 80)) || xl_fail "nginx did not start: $(cat "$w/nginx.out")"
    for host in 127.0.0.1 '[::1]'; do
        # One connection per file, then all four on one kept-alive connection
        # (curl reuses it for the URLs of one invocation).
        for f in one small medium big; do
            in_cg timeout 30 curl -sSf -o "$w/got-$f" "http://$host:$((P + 80))/$f.bin" ||
                xl_fail "nginx: curl $host $f.bin"
            [ "$(sum "$w/got-$f")" = "$(sum "$w/html/$f.bin")" ] ||
                xl_fail "nginx: $f.bin from $host differs"
        done
        args=()
        for f in big small one medium big one; do
            args+=(-o "$w/ka-$f" "http://$host:$((P + 80))/$f.bin")
        done
        in_cg timeout 60 curl -sSf "${args[@]}" || xl_fail "nginx: keep-alive curl $host"
        for f in big small one medium; do
            [ "$(sum "$w/ka-$f")" = "$(sum "$w/html/$f.bin")" ] ||
                xl_fail "nginx: keep-alive $f.bin from $host differs"
        done
    done
    # Eight concurrent keep-alive connections from an epoll client: every
    # response complete (wrk counts short or failed reads as socket errors).
    in_cg timeout 30 wrk -t 2 -c 8 -d 2s "http://127.0.0.1:$((P + 80))/medium.bin" >"$w/wrk.out" 2>&1 ||
        xl_fail "nginx: wrk failed: $(cat "$w/wrk.out")"
    grep -q "requests in" "$w/wrk.out" || xl_fail "nginx: wrk gave no result: $(cat "$w/wrk.out")"
    ! grep -Eq "Socket errors|Non-2xx" "$w/wrk.out" || xl_fail "nginx: wrk saw errors: $(cat "$w/wrk.out")"
    ! grep -Eq "\[(error|crit|alert|emerg)\]" "$w/nginx-error.log" ||
        xl_fail "nginx logged errors: $(cat "$w/nginx-error.log")"
    kill "$(cat "$w/nginx.pid")"
    carried nginx "$ins0" "$red0"

    # ---- redis: large values, exact counters under concurrency and pipelining ----
    ins0=$(counter inserted)
    red0=$(counter redirected)
    in_cg redis-server --port $((P + 79)) --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$work" --loglevel warning >"$w/redis.out" 2>&1 &
    redis_pid=$!
    xl_wait_for 100 listening $((P + 79)) || xl_fail "redis did not start: $(cat "$w/redis.out")"
    rcli() { in_cg timeout 30 redis-cli -p $((P + 79)) "$@"; }
    head -c 3000000 /dev/urandom | base64 -w0 >"$w/value"
    rcli -x SET big <"$w/value" | grep -q OK || xl_fail "redis: SET of 4 MB"
    rcli --raw GET big >"$w/value-got" || xl_fail "redis: GET of 4 MB"
    printf '\n' >>"$w/value"  # --raw ends the reply with a newline
    [ "$(sum "$w/value-got")" = "$(sum "$w/value")" ] || xl_fail "redis: the 4 MB value came back different"
    # Without -r, redis-benchmark's INCR hits the one key "counter:__rand_int__":
    # 10 clients x 20000 requests, then 20000 more pipelined 16 deep.
    in_cg timeout 60 redis-benchmark -p $((P + 79)) -q -c 10 -n 20000 -t incr,set,get,lpush >"$w/rb.out" 2>&1 ||
        xl_fail "redis-benchmark failed: $(cat "$w/rb.out")"
    in_cg timeout 60 redis-benchmark -p $((P + 79)) -q -c 4 -n 20000 -P 16 -t incr >>"$w/rb.out" 2>&1 ||
        xl_fail "redis-benchmark -P 16 failed: $(cat "$w/rb.out")"
    n=$(rcli --raw GET counter:__rand_int__)
    [ "$n" = 40000 ] || xl_fail "redis: counter is '$n' after 40000 INCRs ($(cat "$w/rb.out"))"
    kill "$redis_pid"
    wait "$redis_pid" 2>/dev/null
    carried redis "$ins0" "$red0"

    # ---- memcached: values of 1 B to 1 MB, one connection and several ----
    ins0=$(counter inserted)
    red0=$(counter redirected)
    in_cg memcached -u root -l 127.0.0.1 -p $((P + 11)) -U 0 -m 128 -I 2m -t 2 >"$w/memcached.out" 2>&1 &
    mc_pid=$!
    xl_wait_for 100 listening $((P + 11)) || xl_fail "memcached did not start: $(cat "$w/memcached.out")"
    in_cg timeout 60 python3 "$HERE/memcache_check.py" 127.0.0.1 $((P + 11)) ||
        xl_fail "memcached through the loopback path"
    kill "$mc_pid"
    wait "$mc_pid" 2>/dev/null
    carried memcached "$ins0" "$red0"
}

run_apps plain 18000
run_apps preloaded 19000
xl_log "PASS"
