# Checks with real servers (nginx, redis, wrk), shared by loopback_apps.sh
# and preload_apps_tcp.sh. Source it after lib.sh. RUN arguments name the
# function or command that runs a client where it belongs (a namespace, a
# cgroup, under libxlane.so). On a failure the function named by
# XL_APP_FAILURE_HOOK (if set) runs first, e.g. to print the library's logs.

xl_app_fail() {
    [ -n "${XL_APP_FAILURE_HOOK:-}" ] && "$XL_APP_FAILURE_HOOK"
    xl_fail "$@"
}

# xl_nginx_conf FILE ROOT DIR MASTER LISTEN...: an nginx configuration that
# serves ROOT with sendfile on every LISTEN address ("127.0.0.1:8080",
# "[::1]:8080"); pid, error log and temporary files under DIR; MASTER "on"
# (two worker processes) or "off" (one process).
xl_nginx_conf() {
    local file="$1" root="$2" dir="$3" master="$4" listen
    shift 4
    {
        printf 'daemon off;\nmaster_process %s;\nworker_processes 2;\nuser root;\n' "$master"
        printf 'pid %s/nginx.pid;\nerror_log %s/nginx-error.log warn;\n' "$dir" "$dir"
        printf 'events { worker_connections 256; }\nhttp {\n'
        printf '    access_log off;\n    sendfile on;\n    tcp_nopush on;\n'
        printf '    keepalive_requests 100000;\n    default_type application/octet-stream;\n'
        printf '    client_body_temp_path %s/nginx-temp/body;\n' "$dir"
        printf '    proxy_temp_path %s/nginx-temp/proxy;\n    server {\n' "$dir"
        for listen in "$@"; do printf '        listen %s;\n' "$listen"; done
        printf '        root %s;\n    }\n}\n' "$root"
    } >"$file"
}

# xl_nginx_clean DIR: nginx's error log under DIR holds no error.
xl_nginx_clean() {
    ! grep -Eq "\[(error|crit|alert|emerg)\]" "$1/nginx-error.log" ||
        xl_app_fail "nginx logged errors: $(cat "$1/nginx-error.log")"
}

# xl_wrk RUN THREADS CONNECTIONS URL OUT: 2 s of wrk; every request
# answered in full (wrk counts short or failed reads as socket errors).
xl_wrk() {
    local out="$5"
    "$1" timeout 30 wrk -t "$2" -c "$3" -d 2s "$4" >"$out" 2>&1 ||
        xl_app_fail "wrk ($1) on $4 failed: $(cat "$out")"
    grep -q "requests in" "$out" || xl_app_fail "wrk ($1) gave no result: $(cat "$out")"
    ! grep -Eq "Socket errors|Non-2xx" "$out" || xl_app_fail "wrk ($1) saw errors: $(cat "$out")"
    xl_log "wrk ($1): $(grep -E "requests in|Latency" "$out" | tr -s ' ')"
}

# xl_redis_value RUN HOST PORT DIR: a 4 MB value stored and read back whole.
xl_redis_value() {
    head -c 3000000 /dev/urandom | base64 -w0 >"$4/redis-value"
    "$1" timeout 30 redis-cli -h "$2" -p "$3" -x SET big <"$4/redis-value" | grep -q OK ||
        xl_app_fail "redis: SET of a 4 MB value"
    "$1" timeout 30 redis-cli -h "$2" -p "$3" --raw GET big >"$4/redis-got" ||
        xl_app_fail "redis: GET of a 4 MB value"
    printf '\n' >>"$4/redis-value"  # --raw ends the reply with a newline
    cmp -s "$4/redis-value" "$4/redis-got" || xl_app_fail "redis: the 4 MB value came back different"
}

# xl_redis_counts BENCH_RUN CLI_RUN HOST PORT DIR: redis-benchmark with 10
# clients, then 16-deep pipelines; without -r every INCR hits the one key
# "counter:__rand_int__", which must then read 40000.
xl_redis_counts() {
    local out="$5/rb.out" n
    "$1" timeout 60 redis-benchmark -h "$3" -p "$4" -q -c 10 -n 20000 -t incr,set,get,lpush \
        >"$out" 2>&1 || xl_app_fail "redis-benchmark failed: $(cat "$out")"
    "$1" timeout 60 redis-benchmark -h "$3" -p "$4" -q -c 4 -n 20000 -P 16 -t incr \
        >>"$out" 2>&1 || xl_app_fail "redis-benchmark -P 16 failed: $(cat "$out")"
    n=$("$2" timeout 10 redis-cli -h "$3" -p "$4" --raw GET counter:__rand_int__)
    [ "$n" = 40000 ] || xl_app_fail "redis: counter is '$n' after 40000 INCRs ($(cat "$out"))"
}
