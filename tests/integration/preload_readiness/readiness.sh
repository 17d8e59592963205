#!/usr/bin/env bash
# poll/select/epoll semantics over accelerated UDP sockets, end to end: two
# hosts (namespaces joined by veth), xlane attached on A, readiness_probe's
# cases on A under LD_PRELOAD against a kernel echo on B. Checks that the
# cases pass, that the fast path carried their traffic (A's XDP redirect
# counter moved, the decisions are in the log), and that the same cases pass
# without the library (the kernel is the reference).
#
#   readiness.sh READINESS_PROBE XLANE LIBXLANE
PROBE="${1:?usage: readiness.sh READINESS_PROBE XLANE LIBXLANE}"
XLANE="${2:?usage: readiness.sh READINESS_PROBE XLANE LIBXLANE}"
LIB="${3:?usage: readiness.sh READINESS_PROBE XLANE LIBXLANE}"
XL_TAG=prdy
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib.sh"
xl_require_root

CASES="poll select epoll eintr many many10k close threads"
WORK="$(mktemp -d /tmp/xl-prdy-$$.XXXXXX)"
xl_on_exit "rm -rf '$WORK'"
xl_make_hosts numtxqueues 2 numrxqueues 2
xl_attach_xlane "$XLANE" "$XL_NS_A" "$XL_IF_A"

# Packets A's XDP program redirected to an AF_XDP socket, all reasons.
redirects() { xl_redirects "$XLANE" "$XL_NS_A" "$XL_IF_A"; }

xl_in "$XL_NS_B" timeout 300 "$PROBE" echo >"$WORK/echo.out" 2>&1 &
ECHO=$!
xl_on_exit "kill $ECHO 2>/dev/null"
xl_wait_for 50 grep -q ready "$WORK/echo.out" || { cat "$WORK/echo.out"; xl_fail "echo never ready"; }

# ---- the cases on A, preloaded: accelerated sockets ----
before="$(redirects)"
xl_in "$XL_NS_A" env LD_PRELOAD="$LIB" XLANE_LOG_LEVEL=info XLANE_LOG_FILE="$WORK/client.%p.log" \
    timeout 120 "$PROBE" client $CASES \
    || { cat "$WORK"/client.*.log >&2; xl_fail "readiness cases failed under LD_PRELOAD"; }
after="$(redirects)"
xl_log "redirected to AF_XDP on A: $before -> $after"
# Every case's echoes come back to accelerated sockets: hundreds in all.
[ $((after - before)) -ge 100 ] || xl_fail "the echoes did not come through the fast path on A"
grep -q "fast path, " "$WORK"/client.*.log ||
    xl_fail "no fast-path decision in the log: $(head -5 "$WORK"/client.*.log)"

# ---- the reference: the same cases on the kernel alone ----
xl_in "$XL_NS_A" timeout 120 "$PROBE" client $CASES || xl_fail "cases fail even without LD_PRELOAD"

xl_in "$XL_NS_A" "$PROBE" client quit || true
wait "$ECHO" || xl_fail "the echo server failed: $(cat "$WORK/echo.out")"
xl_log "ok: poll/select/epoll over accelerated UDP sockets keep the kernel's semantics"
