#!/usr/bin/env bash
# libxlane.so exports exactly the libc functions it interposes, each of them a
# real libc symbol, and depends on nothing that could allocate, log or run a
# constructor before libc is ready.
#   exports_test.sh LIBXLANE
set -euo pipefail
library="$1"
fail() { echo "FAIL: $*" >&2; exit 1; }

# Written out here, not read from exports.map, so a change to the map or to the
# visibility flags shows up as a difference.
expected="
__poll_chk __ppoll_chk __read_chk __recv_chk __recvfrom_chk
accept accept4 bind close close_range closefrom connect dup dup2 dup3
epoll_create epoll_create1 epoll_ctl epoll_pwait epoll_pwait2 epoll_wait
fcntl fcntl64 getpeername getsockname getsockopt ioctl listen poll ppoll pselect
read readv recv recvfrom recvmmsg recvmsg select send sendfile sendfile64 sendmmsg
sendmsg sendto setsockopt shutdown socket socketpair splice write writev"

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

# Strong imports limited to what the bootstrap needs: no malloc, no stdio, no
# libstdc++ (weak imports are the C runtime's own hooks).
# splice support (loopback_splice.cpp): stat/fstat/secure_getenv/clock_gettime/raise.
allowed="__chk_fail __errno_location dlsym syscall clock_gettime fstat memcpy raise secure_getenv stat strlen"
imports="$(nm -D --undefined-only "$library" | awk '$1 == "U" {print $2}' | sed 's/@.*//' | sort)"
unexpected="$(comm -23 <(echo "$imports") <(tr ' ' '\n' <<<"$allowed" | sort))"
[ -z "$unexpected" ] || fail "unexpected imports (allocation, logging or C++ runtime?): $unexpected"
if ldd "$library" | grep -q libstdc++; then fail "$library needs libstdc++ at run time"; fi
echo "imports: $(echo $imports)"

# No static constructors of ours (GCC names them _GLOBAL__sub_I_<file>).
if nm "$library" | grep -q '_GLOBAL__sub_I_'; then
    fail "static constructors found: $(nm "$library" | grep '_GLOBAL__sub_I_')"
fi
echo "no static constructors"
