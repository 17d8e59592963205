#!/usr/bin/env bash
# Real, unmodified programs under LD_PRELOAD=libxlane.so behave exactly as
# without it: python3 http.server served to curl, and a python3 TCP/UDP echo
# (IPv4 and IPv6), between two network-namespace hosts joined by a veth pair.
# Runs the same scenario on the plain kernel and preloaded, and compares.
#   python_apps.sh LIBXLANE
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../lib.sh"
xl_require_root
library="$1"
[ -f "$library" ] || xl_fail "no library at $library"
PY=/usr/bin/python3
[ -x "$PY" ] || PY="$(command -v python3)"

XL_TAG=pl
xl_make_hosts
work="$(mktemp -d)"
xl_on_exit "rm -rf $work"
mkdir -p "$work/www"
head -c 3000000 /dev/urandom >"$work/www/blob"

# run MODE ECHO_PORT HTTP_PORT: servers in B, clients in A; outputs in $work/MODE.*
run() {
    local mode="$1" echo_port="$2" http_port="$3" pre=()
    [ "$mode" = preload ] && pre=(env LD_PRELOAD="$library" XLANE_TEST_EXPECT_PRELOAD=1)
    # nsenter directly, not the xl_in function, so that $! is the server itself
    # (nsenter and env exec into python3) and its /proc/PID/maps can be read.
    nsenter --net="/run/netns/$XL_NS_B" "${pre[@]}" "$PY" "$here/echo.py" server "$echo_port" "$work/$mode.ready" \
        "$XL_ADDR_B" "$XL_ADDR6_B" 2>"$work/$mode.echo.err" &
    local echo_pid=$!
    xl_on_exit "kill $echo_pid"
    nsenter --net="/run/netns/$XL_NS_B" "${pre[@]}" "$PY" -m http.server --bind "$XL_ADDR_B" \
        --directory "$work/www" "$http_port" >/dev/null 2>"$work/$mode.http.err" &
    local http_pid=$!
    xl_on_exit "kill $http_pid"
    xl_wait_for 100 test -f "$work/$mode.ready" || xl_fail "$mode: echo server not ready"
    xl_wait_for 100 xl_in "$XL_NS_A" curl -s -o /dev/null "http://$XL_ADDR_B:$http_port/" \
        || xl_fail "$mode: http.server not answering"
    if [ "$mode" = preload ]; then
        grep -q libxlane.so "/proc/$echo_pid/maps" || xl_fail "libxlane.so not loaded in the echo server"
        grep -q libxlane.so "/proc/$http_pid/maps" || xl_fail "libxlane.so not loaded in http.server"
    fi
    for addr in "$XL_ADDR_B" "$XL_ADDR6_B"; do
        xl_in "$XL_NS_A" "${pre[@]}" timeout 60 "$PY" "$here/echo.py" client "$addr" "$echo_port" \
            >>"$work/$mode.echo" || xl_fail "$mode: echo client against $addr failed"
    done
    xl_in "$XL_NS_A" "${pre[@]}" timeout 60 curl -sS --max-time 30 -o "$work/$mode.blob" \
        -w 'http %{http_code} %{size_download} bytes\n' "http://$XL_ADDR_B:$http_port/blob" \
        >>"$work/$mode.echo" || xl_fail "$mode: curl failed"
    cmp -s "$work/www/blob" "$work/$mode.blob" || xl_fail "$mode: downloaded file differs"
    kill "$echo_pid" "$http_pid" 2>/dev/null
    wait "$echo_pid" "$http_pid" 2>/dev/null
    true
}

run plain 7001 8001
run preload 7002 8002
cat "$work/preload.echo"
# Ports differ between the runs and appear nowhere in the output.
diff -u "$work/plain.echo" "$work/preload.echo" || xl_fail "output differs under LD_PRELOAD"
[ "$(wc -l <"$work/preload.echo")" -ge 20 ] || xl_fail "too little output: $(wc -l <"$work/preload.echo") lines"
xl_log "python3 echo (TCP/UDP, IPv4/IPv6), http.server and curl: identical under LD_PRELOAD"
