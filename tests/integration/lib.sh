# Shared shell library for integration tests and benchmarks: privilege check,
# unique test hosts (network namespaces joined by veth) and cleanup on every
# exit path. Source it; do not run it.
#
#   . "$(dirname "$0")/lib.sh"
#   xl_require_root                       # exit 77 (skip) or 1 under XLANE_REQUIRE_PRIV=1
#   xl_make_hosts                         # sets XL_NS_A XL_NS_B XL_IF_A XL_IF_B, addresses below
#   xl_in "$XL_NS_B" xlane attach "$XL_IF_B"   # nsenter --net: the host bpffs stays visible
#
# Addresses (benchmarking range only): A = 198.18.0.1/24 fd00:198:18::1/64,
#                                       B = 198.18.0.2/24 fd00:198:18::2/64.

set -o pipefail

XL_TAG="${XL_TAG:-t}"
XL_ID="$$"
XL_CLEANUPS=()

xl_log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
xl_fail() { xl_log "FAIL: $*"; exit 1; }

# Skip without root, unless XLANE_REQUIRE_PRIV=1 makes a skip a failure.
xl_require_root() {
    if [ "$(id -u)" -ne 0 ]; then
        if [ "${XLANE_REQUIRE_PRIV:-0}" = 1 ]; then
            xl_log "needs root and XLANE_REQUIRE_PRIV=1 forbids skipping: FAIL"
            exit 1
        fi
        xl_log "needs root (network namespaces, XDP, BPF): SKIPPED"
        exit 77
    fi
}

# Cleanups run in reverse order on any exit (success, failure, signal).
xl_on_exit() { XL_CLEANUPS+=("$*"); }
# The loop counter has a private name: a cleanup that sets `i` must not be
# able to skip the cleanups after it.
xl_run_cleanups() {
    local _xl_cleanup_index
    for ((_xl_cleanup_index = ${#XL_CLEANUPS[@]} - 1; _xl_cleanup_index >= 0; _xl_cleanup_index--)); do
        eval "${XL_CLEANUPS[_xl_cleanup_index]}" >/dev/null 2>&1 || true
    done
    XL_CLEANUPS=()
}
trap xl_run_cleanups EXIT
trap 'exit 130' INT TERM

# Run a command inside a namespace, keeping the host's /sys/fs/bpf visible.
xl_in() {
    local ns="$1"
    shift
    nsenter --net="/run/netns/$ns" "$@"
}

# Create a unique namespace with lo up, deleted on exit; its name goes into
# the variable named by $2 (not command substitution: the cleanup must be
# registered in this shell, not a subshell).
xl_make_ns() {
    local -n _xl_out="$2"
    local name="xl-${XL_TAG}-$1-${XL_ID}"
    ip netns add "$name" || xl_fail "cannot create netns $name"
    xl_on_exit "ip netns pids $name | xargs -r kill -9; ip netns del $name"
    ip -n "$name" link set lo up
    _xl_out="$name"
}

# For a test of programs under libxlane.so, after xl_require_root: checks
# the library and tool it was given (LIBXLANE, XLANE), sets PY to the system
# python3 (a version-manager shim such as pyenv's would be preloaded too) and
# `work` to a directory removed at exit.
xl_preload_test_setup() {
    [ -f "$LIBXLANE" ] || xl_fail "no library at $LIBXLANE"
    [ -x "$XLANE" ] || xl_fail "no xlane tool at $XLANE"
    PY=/usr/bin/python3
    [ -x "$PY" ] || PY="$(command -v python3)"
    work="$(mktemp -d)"
    xl_on_exit "rm -rf '$work'"
}

# Two hosts A and B joined by a veth pair, IPv4 + IPv6, offloads that produce
# partial checksums switched off on both ends (they are generated locally).
# Extra args are passed to `ip link add` (e.g. "numtxqueues 2 numrxqueues 2").
xl_make_hosts() {
    xl_make_ns a XL_NS_A
    xl_make_ns b XL_NS_B
    XL_IF_A="xa${XL_ID}"
    XL_IF_B="xb${XL_ID}"
    ip link add "$XL_IF_A" netns "$XL_NS_A" "$@" type veth peer name "$XL_IF_B" netns "$XL_NS_B" "$@" \
        || xl_fail "cannot create veth pair"
    local ns ifc addr4 addr6
    for side in A B; do
        if [ $side = A ]; then ns=$XL_NS_A ifc=$XL_IF_A addr4=198.18.0.1 addr6=fd00:198:18::1
        else ns=$XL_NS_B ifc=$XL_IF_B addr4=198.18.0.2 addr6=fd00:198:18::2; fi
        ip -n "$ns" addr add "$addr4/24" dev "$ifc"
        ip -n "$ns" addr add "$addr6/64" dev "$ifc" nodad
        ip -n "$ns" link set "$ifc" up
        xl_in "$ns" ethtool -K "$ifc" tx off tso off gso off >/dev/null 2>&1 || true
    done
    XL_ADDR_A=198.18.0.1 XL_ADDR_B=198.18.0.2
    XL_ADDR6_A=fd00:198:18::1 XL_ADDR6_B=fd00:198:18::2
    # Wait until the link is usable (bounded).
    local i
    for i in $(seq 1 50); do
        xl_in "$XL_NS_A" ping -c1 -W1 -q "$XL_ADDR_B" >/dev/null 2>&1 &&
            xl_in "$XL_NS_A" ping -c1 -W1 -q "$XL_ADDR6_B" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    xl_fail "veth pair $XL_IF_A <-> $XL_IF_B never carried a ping"
}

# xl_output_has PATTERN CMD...: CMD succeeds and its output matches PATTERN.
# Not `CMD | grep -q`: grep -q stops at the first match, the writer dies of
# SIGPIPE, and pipefail turns a found match into a failure (a flake that shows
# only when the output is long or the machine busy).
xl_output_has() {
    local pattern="$1" out
    shift
    out="$("$@")" || return 1
    grep -q -e "$pattern" <<<"$out"
}

# Wait (bounded, in 0.1 s steps) until a command succeeds.
xl_wait_for() {
    local tries="$1"
    shift
    local i
    for i in $(seq 1 "$tries"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# xl_redirects XLANE NS IF: packets the XDP program on interface IF (of
# namespace NS) redirected to an AF_XDP socket, all reasons, from
# `xlane status --json` (which lists every namespace's attachments, so the
# interface is picked by name).
xl_redirects() {
    xl_in "$2" "$1" status --json | python3 -c '
import json, sys
total = 0
for a in json.load(sys.stdin).get("attachments", []):
    if a.get("interface") != sys.argv[1]:
        continue
    for c in (a.get("counters") or {}).values():
        if c.get("verdict") == "redirect":
            total += c.get("packets", 0)
print(total)' "$3"
}

# xl_attach_xlane XLANE NS IF: `xlane attach IF` inside namespace NS, with
# cleanups (run last-first at exit) that detach it and remove whatever a
# failed detach or a killed engine could leave: the pin directory and the
# engine's interface locks (/run/xlane/<netns-id>/).
xl_attach_xlane() {
    local xlane="$1" ns="$2" ifc="$3"
    local netns_id dir
    netns_id="netns-$(stat -L -c %i "/run/netns/$ns")"
    dir="/sys/fs/bpf/xlane/$netns_id/$ifc"
    xl_on_exit "rm -rf '$dir'; rmdir '$(dirname "$dir")'"
    xl_on_exit "xl_in $ns '$xlane' detach $ifc"
    xl_on_exit "rm -rf '/run/xlane/$netns_id'"
    xl_in "$ns" "$xlane" attach "$ifc" || xl_fail "xlane attach $ifc in $ns failed"
}
