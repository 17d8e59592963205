#!/usr/bin/env bash
# libxlane.so exports exactly the libc functions it interposes, each of them a
# real libc symbol, and depends on nothing that could allocate, log or run a
# constructor of ours before libc is ready.
#   exports_test.sh LIBXLANE
set -euo pipefail
library="$1"
fail() { echo "FAIL: $*" >&2; exit 1; }

# Written out here, not read from exports.map, so a change to the map or to the
# visibility flags shows up as a difference.
expected="
_Exit _exit __poll_chk __ppoll_chk __read_chk __recv_chk __recvfrom_chk __sysv_signal
accept accept4 bind close close_range closefrom connect dup dup2 dup3
epoll_create epoll_create1 epoll_ctl epoll_pwait epoll_pwait2 epoll_wait
execl execle execlp execv execve execvp execvpe
fcntl fcntl64 getpeername getsockname getsockopt ioctl listen poll ppoll pselect
read readv recv recvfrom recvmmsg recvmsg select send sendfile sendfile64 sendmmsg
sendmsg sendto setsockopt shutdown sigaction signal bsd_signal sysv_signal socket socketpair
splice write writev"

exported="$(nm -D --defined-only "$library" | awk '{print $NF}' | sed 's/@.*//' | sort)"
want="$(tr ' ' '\n' <<<"$expected" | sed '/^$/d' | sort)"
if [ "$exported" != "$want" ]; then
    diff <(echo "$want") <(echo "$exported") | sed 's/^</missing: /; s/^>/unexpected: /' >&2 || true
    fail "exports of $library differ from the interposed set"
fi
echo "exports: $(wc -l <<<"$exported") symbols, exactly the interposed set"

# Each export must shadow a libc function (a typo would export a new symbol).
libc="$(ldd "$library" | awk '$1 == "libc.so.6" {print $3}')"
[ -n "$libc" ] || fail "cannot find the libc that $library links against"
libc_names="$(nm -D --defined-only "$libc" | awk '{print $NF}' | sed 's/@.*//' | sort -u)"
missing="$(comm -23 <(echo "$exported") <(echo "$libc_names"))"
[ -z "$missing" ] || fail "exported but not in $libc: $missing"
echo "every export shadows a function of $libc"

# The engine brings libbpf, libxdp and libmnl; the C++ runtime is linked in
# statically and hidden (-static-libstdc++), so a C program gets no libstdc++
# and a C++ program's own libstdc++ is never shadowed.
# (Outputs captured first: `| grep -q` under pipefail misreads an early match.)
needs="$(ldd "$library")"
exports="$(nm -D --defined-only "$library")"
if grep -q libstdc++ <<<"$needs"; then fail "$library needs libstdc++ at run time"; fi
if grep -q libgcc_s <<<"$needs"; then fail "$library needs libgcc_s at run time"; fi
if grep -q ' _Z' <<<"$exports"; then fail "$library exports C++ symbols"; fi
echo "no shared C++ runtime, no C++ exports"

# No static constructors of ours (GCC names them _GLOBAL__sub_I_<file>; our
# sources are .cpp, the static C++ runtime's own initialisers come from .cc).
ours="$(nm "$library" | grep '_GLOBAL__sub_I_' | grep -v '\.cc$' || true)"
[ -z "$ours" ] || fail "static constructors found: $ours"
echo "no static constructors of ours"
