#!/usr/bin/env bash
# `xlane run`: LD_PRELOAD and profile variables, what it keeps, exit codes,
# the missing-library error, and a preloaded python3 UDP echo that still works.
# Needs no root.
#   xlane_run.sh XLANE_TOOL LIBXLANE_SO
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

XLANE="$1"
LIB="$(realpath "$2")"
work="$(mktemp -d /tmp/xl-run-XXXXXX)"
xl_on_exit "rm -rf '$work'"
unset LD_PRELOAD XLANE_SPIN_US XLANE_PRELOAD_LIB

# Default profile: the library first in LD_PRELOAD, no XLANE_* added.
env -i PATH="$PATH" XLANE_PRELOAD_LIB="$LIB" "$XLANE" run -- env >"$work/env.txt"
grep -qx "LD_PRELOAD=$LIB" "$work/env.txt" || xl_fail "LD_PRELOAD not set: $(grep LD_ "$work/env.txt")"
if grep -q '^XLANE_SPIN_US=' "$work/env.txt"; then xl_fail "default profile set XLANE_SPIN_US"; fi

# Found next to the tool without XLANE_PRELOAD_LIB (build tree layout).
"$XLANE" run -- env >"$work/env2.txt"
grep -q "^LD_PRELOAD=.*/libxlane.so" "$work/env2.txt" || xl_fail "library not found next to the tool"

# A profile sets its variables; one already set wins; LD_PRELOAD is prepended.
XLANE_PRELOAD_LIB="$LIB" "$XLANE" run --profile latency -- env >"$work/env3.txt"
grep -qx 'XLANE_SPIN_US=1000' "$work/env3.txt" || xl_fail "latency profile did not set XLANE_SPIN_US"
XLANE_PRELOAD_LIB="$LIB" XLANE_SPIN_US=7 LD_PRELOAD=/lib/x86_64-linux-gnu/libm.so.6 \
    "$XLANE" run --profile throughput -- env >"$work/env4.txt"
grep -qx 'XLANE_SPIN_US=7' "$work/env4.txt" || xl_fail "profile overrode a variable set by the user"
grep -qx "LD_PRELOAD=$LIB:/lib/x86_64-linux-gnu/libm.so.6" "$work/env4.txt" \
    || xl_fail "existing LD_PRELOAD not kept: $(grep LD_ "$work/env4.txt")"
XLANE_PRELOAD_LIB="$LIB" LD_PRELOAD="$LIB" "$XLANE" run -- env >"$work/env5.txt"
grep -qx "LD_PRELOAD=$LIB" "$work/env5.txt" || xl_fail "library added twice to LD_PRELOAD"

# Arguments after the program are the program's, options included.
out="$(XLANE_PRELOAD_LIB="$LIB" "$XLANE" run -- printf '%s|' --profile -x)"
[ "$out" = "--profile|-x|" ] || xl_fail "arguments not passed as they are: $out"

# Exit codes: the program's; 127 for no such program; 2 for usage errors; 1 without the library.
set +e
XLANE_PRELOAD_LIB="$LIB" "$XLANE" run -- sh -c 'exit 7'; rc=$?
[ $rc = 7 ] || xl_fail "exit code $rc, expected the program's 7"
XLANE_PRELOAD_LIB="$LIB" "$XLANE" run -- /nonexistent/program 2>"$work/err"; rc=$?
[ $rc = 127 ] && grep -q 'cannot run /nonexistent/program' "$work/err" || xl_fail "missing program: rc $rc"
"$XLANE" run --profile nosuch -- true 2>"$work/err"; rc=$?
[ $rc = 2 ] && [ "$(wc -l <"$work/err")" = 1 ] || xl_fail "unknown profile: rc $rc $(cat "$work/err")"
"$XLANE" run 2>/dev/null; rc=$?
[ $rc = 2 ] || xl_fail "no program: rc $rc"
XLANE_PRELOAD_LIB=/nonexistent/libxlane.so "$XLANE" run -- true 2>"$work/err"; rc=$?
[ $rc = 1 ] && grep -q 'XLANE_PRELOAD_LIB names /nonexistent/libxlane.so' "$work/err" \
    || xl_fail "bad XLANE_PRELOAD_LIB: rc $rc $(cat "$work/err")"
mkdir -p "$work/bin"
cp "$XLANE" "$work/bin/xlane"
"$work/bin/xlane" run -- true 2>"$work/err"; rc=$?
set -e
[ $rc = 1 ] && grep -q 'cannot find libxlane.so (looked for .*/preload/libxlane.so and .*/lib/libxlane.so)' \
    "$work/err" || xl_fail "missing library: rc $rc $(cat "$work/err")"

# A preloaded python3 UDP echo (server thread + client) still works.
XLANE_PRELOAD_LIB="$LIB" timeout 30 "$XLANE" run --profile latency -- /usr/bin/python3 - >"$work/echo.txt" <<'PYEOF' \
    || xl_fail "preloaded UDP echo failed: $(cat "$work/echo.txt")"
import socket, threading
assert any("libxlane.so" in line for line in open("/proc/self/maps")), "libxlane.so not loaded"
server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind(("127.0.0.1", 0))
server.settimeout(10)
def echo():
    for _ in range(3):
        data, peer = server.recvfrom(2048)
        server.sendto(data, peer)
threading.Thread(target=echo, daemon=True).start()
client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
client.settimeout(10)
for size in (1, 512, 1472):
    message = bytes(range(256)) * (size // 256) + bytes(size % 256)
    client.sendto(message, server.getsockname())
    assert client.recvfrom(2048)[0] == message
print("echo ok")
PYEOF
grep -qx 'echo ok' "$work/echo.txt" || xl_fail "UDP echo output: $(cat "$work/echo.txt")"
xl_log "PASS"
