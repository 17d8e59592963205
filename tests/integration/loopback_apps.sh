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
. "$HERE/apps_lib.sh"
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
# nginx_case DIR PORT: nginx (two workers, sendfile) to curl, one connection
# per file and then all on one kept-alive connection, IPv4 and IPv6; then wrk.
nginx_case() {
    local w="$1" port="$2" host f args
    mkdir -p "$w/html" "$w/nginx-temp"
    head -c 1 /dev/urandom >"$w/html/one.bin"
    head -c 1000 /dev/urandom >"$w/html/small.bin"
    head -c 100000 /dev/urandom >"$w/html/medium.bin"
    head -c 24000000 /dev/urandom >"$w/html/big.bin"
    xl_nginx_conf "$w/nginx.conf" "$w/html" "$w" on "127.0.0.1:$port" "[::1]:$port"
    in_cg nginx -p "$w" -c "$w/nginx.conf" >"$w/nginx.out" 2>&1 &
    xl_wait_for 100 listening "$port" || xl_fail "nginx did not start: $(cat "$w/nginx.out")"
    for host in 127.0.0.1 '[::1]'; do
        for f in one small medium big; do
            in_cg timeout 30 curl -sSf -o "$w/got-$f" "http://$host:$port/$f.bin" ||
                xl_fail "nginx: curl $host $f.bin"
            cmp -s "$w/got-$f" "$w/html/$f.bin" || xl_fail "nginx: $f.bin from $host differs"
        done
        # curl reuses one connection for the URLs of one invocation.
        args=()
        for f in big small one medium big one; do
            args+=(-o "$w/ka-$f" "http://$host:$port/$f.bin")
        done
        in_cg timeout 60 curl -sSf "${args[@]}" || xl_fail "nginx: keep-alive curl $host"
        for f in big small one medium; do
            cmp -s "$w/ka-$f" "$w/html/$f.bin" || xl_fail "nginx: keep-alive $f.bin from $host differs"
        done
    done
    xl_wrk in_cg 2 8 "http://127.0.0.1:$port/medium.bin" "$w/wrk.out"
    xl_nginx_clean "$w"
    kill "$(cat "$w/nginx.pid")"
}

# redis_case DIR PORT: a 4 MB value, and exact counts under concurrency.
redis_case() {
    local w="$1" port="$2" pid
    in_cg redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$w" --loglevel warning >"$w/redis.out" 2>&1 &
    pid=$!
    xl_wait_for 100 listening "$port" || xl_fail "redis did not start: $(cat "$w/redis.out")"
    xl_redis_value in_cg 127.0.0.1 "$port" "$w"
    xl_redis_counts in_cg in_cg 127.0.0.1 "$port" "$w"
    kill "$pid"
    wait "$pid" 2>/dev/null
}

# memcached_case DIR PORT: values of 1 B to 1 MB, one connection and several.
memcached_case() {
    local w="$1" port="$2" pid
    in_cg memcached -u root -l 127.0.0.1 -p "$port" -U 0 -m 128 -I 2m -t 2 >"$w/memcached.out" 2>&1 &
    pid=$!
    xl_wait_for 100 listening "$port" || xl_fail "memcached did not start: $(cat "$w/memcached.out")"
    in_cg timeout 60 python3 "$HERE/memcache_check.py" 127.0.0.1 "$port" ||
        xl_fail "memcached through the loopback path"
    kill "$pid"
    wait "$pid" 2>/dev/null
}

# run_apps MODE PORT_BASE: the three servers and their clients, in MODE
# ("plain" or "preloaded"), each checked to have taken the path.
run_apps() {
    local app ins0 red0 w port="$2"
    MODE="$1"
    PRELOAD=0
    [ "$MODE" = preloaded ] && PRELOAD=1
    for app in nginx redis memcached; do
        w="$work/$MODE-$app"
        mkdir -p "$w"
        ins0=$(counter inserted)
        red0=$(counter redirected)
        port=$((port + 1))
        "${app}_case" "$w" "$port"
        carried "$app" "$ins0" "$red0"
    done
}

run_apps plain 18000
run_apps preloaded 19000
xl_log "PASS"
