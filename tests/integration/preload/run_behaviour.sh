#!/usr/bin/env bash
# Runs the socket behaviour table without and with LD_PRELOAD=libxlane.so and
# requires identical output, after checking that the preloaded run really went
# through libxlane.so (the dynamic linker's own binding log says so).
#   run_behaviour.sh PROGRAM LIBXLANE
set -euo pipefail
program="$1"
library="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# The _FORTIFY_SOURCE entry points must be among what the table exercises.
fortified=(__read_chk __recv_chk __recvfrom_chk __poll_chk __ppoll_chk)
for sym in "${fortified[@]}"; do
    nm -u "$program" | grep -w "$sym" >/dev/null || fail "$program does not call $sym (built without -O2 -D_FORTIFY_SOURCE=2?)"
done

timeout 120 "$program" >"$work/plain" || { cat "$work/plain"; fail "rows fail without the preload"; }
LD_DEBUG=bindings LD_DEBUG_OUTPUT="$work/bindings" LD_PRELOAD="$library" \
    timeout 120 "$program" >"$work/preloaded" || { cat "$work/preloaded"; fail "rows fail under LD_PRELOAD"; }
cat "$work/preloaded"

diff -u "$work/plain" "$work/preloaded" || fail "output differs under LD_PRELOAD=$library"

# Again with the TCP fast path on: its decision at connect() reads the
# address first (a bad pointer must be EFAULT there too, not SIGSEGV).
XLANE_TCP=1 LD_PRELOAD="$library" timeout 120 "$program" >"$work/preloaded_tcp" \
    || { cat "$work/preloaded_tcp"; fail "rows fail under LD_PRELOAD with XLANE_TCP=1"; }
diff -u "$work/plain" "$work/preloaded_tcp" || fail "output differs under LD_PRELOAD=$library XLANE_TCP=1"

# Every one of these calls must have been bound to libxlane.so, not libc.
base="$(basename "$library")"
for sym in socket socketpair bind listen accept accept4 connect shutdown getsockopt setsockopt \
           getsockname getpeername close close_range dup dup2 dup3 fcntl ioctl read readv recv \
           recvfrom recvmsg recvmmsg write writev send sendto sendmsg sendmmsg sendfile poll \
           select pselect epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2 \
           "${fortified[@]}"; do
    # Not `grep -q`: it exits at the first match, the first grep then dies of
    # SIGPIPE and pipefail turns a found binding into a failure (a flake).
    grep -h "normal symbol \`$sym'" "$work"/bindings.* | grep "to .*$base" >/dev/null \
        || fail "$sym was not bound to $base under LD_PRELOAD"
done
echo "identical output with and without LD_PRELOAD=$base; all calls bound to $base"
