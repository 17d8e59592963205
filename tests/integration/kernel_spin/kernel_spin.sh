#!/usr/bin/env bash
# XLANE_SPIN_KERNEL under LD_PRELOAD=libxlane.so: kernel_spin_probe's checks
# (UDP and TCP receives on 127.0.0.1, which the kernel serves) must pass and
# print the same lines plain, preloaded with the spin on, and preloaded with
# it off; and a receive that waits for late data must not sleep in the kernel
# only when the spin is on. Runs in a private network namespace (a user
# namespace too when not root).
#   kernel_spin.sh PROBE LIBXLANE
set -euo pipefail
probe="${1:?usage: kernel_spin.sh PROBE LIBXLANE}"
library="${2:?usage: kernel_spin.sh PROBE LIBXLANE}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

run() {  # run NAME [VAR=VALUE...]
    local name="$1"
    shift
    local userns=()
    [ "$(id -u)" -eq 0 ] || userns=(--map-root-user)
    if ! unshare --net "${userns[@]}" -- sh -c 'ip link set lo up && exec "$@"' sh \
        env "$@" timeout 120 "$probe" >"$work/$name" 2>"$work/$name.err"; then
        cat "$work/$name" "$work/$name.err" >&2
        fail "$name: a check failed"
    fi
}

run plain
# 1 s of spin (the maximum): far longer than any wait in the probe, so "slept: no" can only
# come from the spin, and a call that should not spin would be seen waiting.
run spin LD_PRELOAD="$library" XLANE_SPIN_KERNEL=1 XLANE_SPIN_US=1000000
run nospin LD_PRELOAD="$library" XLANE_SPIN_KERNEL=0 XLANE_SPIN_US=1000000

for name in plain spin nospin; do
    grep '^ok ' "$work/$name" >"$work/$name.ok"
    grep '^slept: ' "$work/$name" | sort -u >"$work/$name.slept"
done
cat "$work/spin"
diff -u "$work/plain.ok" "$work/spin.ok" || fail "results differ with XLANE_SPIN_KERNEL=1"
diff -u "$work/plain.ok" "$work/nospin.ok" || fail "results differ under LD_PRELOAD without the spin"
# Without the spin every wait sleeps. With it, a wait sleeps only once other
# threads kept taking its CPU (a loaded host): "yes, after giving way".
! grep -q '^slept: no$' "$work/plain.slept" || fail "plain receives did not sleep"
! grep -q '^slept: no$' "$work/nospin.slept" || fail "receives without the spin did not sleep"
! grep -q '^slept: yes$' "$work/spin.slept" || fail "with XLANE_SPIN_KERNEL=1 the receives slept: $(cat "$work/spin.slept")"
echo "$(wc -l <"$work/spin.ok") kernel-spin checks pass, identical with and without the spin; waits spun only with XLANE_SPIN_KERNEL=1"
