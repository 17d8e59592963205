#!/usr/bin/env bash
# Runs process_life (signals, SIGPIPE, fork/exec/daemon/spawn, RLIMIT_NOFILE)
# without and with LD_PRELOAD=libxlane.so in a private network namespace
# (a user namespace too when not root) and requires every check to pass and
# both runs to print the same lines.
#   process_life.sh PROGRAM LIBXLANE
# XL_HARDENING_ADDR (optional): run in the current namespace against that
# address instead, e.g. inside a namespace where xlane is attached.
set -euo pipefail
program="${1:?usage: process_life.sh PROGRAM LIBXLANE}"
library="${2:?usage: process_life.sh PROGRAM LIBXLANE}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

run() {  # run NAME [LD_PRELOAD value]
    local name="$1" preload="${2:-}"
    local cmd=(env ${preload:+LD_PRELOAD="$preload"} timeout 240 "$program")
    if [ -n "${XL_HARDENING_ADDR:-}" ]; then
        "${cmd[@]}" >"$work/$name" 2>"$work/$name.err"
    else
        local userns=()
        [ "$(id -u)" -eq 0 ] || userns=(--map-root-user)
        unshare --net "${userns[@]}" -- sh -c 'ip link set lo up && exec "$@"' sh "${cmd[@]}" \
            >"$work/$name" 2>"$work/$name.err"
    fi
}

status=0
run plain || status=$?
[ $status -eq 0 ] || { cat "$work/plain" "$work/plain.err"; fail "checks fail without the preload"; }
grep -qx "preload: none" "$work/plain.err" || fail "plain run: $(cat "$work/plain.err")"
run preloaded "$library" || status=$?
cat "$work/preloaded"
[ $status -eq 0 ] || { cat "$work/preloaded.err"; fail "checks fail under LD_PRELOAD=$library"; }
grep -qx "preload: libxlane" "$work/preloaded.err" || fail "libxlane.so was not mapped in the preloaded run"
diff -u "$work/plain" "$work/preloaded" || fail "output differs under LD_PRELOAD"
echo "$(grep -c '^ok ' "$work/preloaded") process-life checks pass, identical with and without LD_PRELOAD"
