#!/usr/bin/env bash
# With xlane attached on one end of a veth pair (198.18.0.0/24):
#  (a) ping and real TCP and UDP exchanges through the kernel still work;
#  (b) a UDP flow entered in xlane_binds (or xlane_flows) reaches an AF_XDP
#      socket and not the kernel socket;
#  (c) once that AF_XDP socket closes, the same flow reaches the kernel again;
#  (d) the counters in `xlane status --json` saw all of it;
#  (e) `xlane detach` leaves no program and no pin.
# In native and in skb (generic) mode.
#
#   xdp_steering.sh XLANE_BINARY XSK_PROBE_BINARY
XLANE="${1:?usage: xdp_steering.sh XLANE_BINARY XSK_PROBE_BINARY}"
PROBE="${2:?usage: xdp_steering.sh XLANE_BINARY XSK_PROBE_BINARY}"
XL_TAG=steer
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"
xl_require_root

# grep -q for pipelines: it reads all its input, so under pipefail the writer
# never dies of SIGPIPE when the match comes early.
contains() { grep -e "$1" >/dev/null; }

ECHO="$HERE/kernel_echo.py"
TMP="$(mktemp -d)"
xl_on_exit "rm -rf '$TMP'"

xl_make_hosts
DIR_B="/sys/fs/bpf/xlane/netns-$(stat -L -c %i "/run/netns/$XL_NS_B")/$XL_IF_B"
xl_on_exit "rm -rf '$DIR_B'; rmdir '$(dirname "$DIR_B")'"
xl_on_exit "xl_in $XL_NS_B '$XLANE' detach $XL_IF_B"

counter() {  # counter NAME -> packets of that reason on $XL_IF_B
    "$XLANE" status --json | python3 -c '
import json, sys
a = [a for a in json.load(sys.stdin)["attachments"] if a["interface"] == sys.argv[1]][0]
print(a["counters"][sys.argv[2]]["packets"])' "$XL_IF_B" "$1"
}

# One kernel echo exchange: server in B, client in A.
echo_exchange() {
    local proto="$1" addr="$2" port="$3" ready="$TMP/ready-$1-$3"
    xl_in "$XL_NS_B" timeout 20 python3 "$ECHO" serve "$proto" "$addr" "$port" >"$ready" 2>&1 &
    local server=$!
    xl_wait_for 100 grep -q ready "$ready" || xl_fail "$proto echo server on $addr:$port did not start"
    xl_in "$XL_NS_A" timeout 20 python3 "$ECHO" check "$proto" "$addr" "$port" ||
        xl_fail "$proto exchange with $addr:$port failed through xlane"
    wait "$server" || xl_fail "$proto echo server on $addr:$port failed: $(cat "$ready")"
}

run_mode() {
    local mode="$1" port_base="$2"
    xl_in "$XL_NS_B" "$XLANE" attach "$XL_IF_B" --mode "$mode" || xl_fail "attach --mode $mode failed"
    local prog_id
    prog_id="$(bpftool prog show pinned "$DIR_B/xlane_steer" | sed -n 's/^\([0-9]*\): .*name xlane_steer.*/\1/p')"
    [ -n "$prog_id" ] || xl_fail "bpftool does not show the pinned xlane_steer"

    # (a) the kernel path is untouched.
    xl_in "$XL_NS_A" ping -c 3 -i 0.2 -W 2 -q "$XL_ADDR_B" >/dev/null || xl_fail "$mode: IPv4 ping failed"
    xl_in "$XL_NS_A" ping -c 3 -i 0.2 -W 2 -q "$XL_ADDR6_B" >/dev/null || xl_fail "$mode: IPv6 ping failed"
    local before_no_match
    before_no_match="$(counter pass_no_match)"
    echo_exchange tcp "$XL_ADDR_B" $((port_base + 1))
    echo_exchange udp "$XL_ADDR_B" $((port_base + 2))
    echo_exchange tcp "$XL_ADDR6_B" $((port_base + 3))
    echo_exchange udp "$XL_ADDR6_B" $((port_base + 4))
    [ "$(counter pass_no_match)" -gt "$before_no_match" ] ||
        xl_fail "$mode: the TCP/UDP exchanges did not pass through xlane_steer"
    [ "$(counter pass_not_l4)" -gt 0 ] || xl_fail "$mode: pings were not counted as pass_not_l4"
    xl_log "ok ($mode): ping, TCP and UDP (IPv4 + IPv6) through the kernel"

    # (b) + (c): a 3-tuple bind and a 5-tuple flow, over IPv4 and IPv6.
    local key addr port=$((port_base + 10)) redirect_before no_xsk_before
    for addr in "$XL_ADDR_B" "$XL_ADDR6_B"; do
        for key in bind flow; do
            port=$((port + 1))
            redirect_before="$(counter redirect_$key)"
            no_xsk_before="$(counter pass_no_xsk)"
            xl_in "$XL_NS_B" timeout 60 "$PROBE" --iface "$XL_IF_B" --queue 0 --local "$addr" \
                --port "$port" --peer-netns "/run/netns/$XL_NS_A" --key $key --count 20 \
                --timeout-ms 5000 || xl_fail "$mode: xsk_probe --key $key --local $addr failed"
            [ "$(counter redirect_$key)" -ge $((redirect_before + 20)) ] ||
                xl_fail "$mode: redirect_$key did not count the steered datagrams"
            [ "$(counter pass_no_xsk)" -ge $((no_xsk_before + 20)) ] ||
                xl_fail "$mode: pass_no_xsk did not count the datagrams after the XSK closed"
            xl_log "ok ($mode): $key entry for $addr steers to the AF_XDP socket, and back to the kernel after it closed"
        done
    done

    # `xlane flows` and `status` show a live entry with its owner.
    if [ "$mode" = native ]; then
        local hold="$TMP/hold" probe_pid
        port=$((port_base + 30))
        xl_in "$XL_NS_B" timeout 60 "$PROBE" --iface "$XL_IF_B" --local "$XL_ADDR_B" --port "$port" \
            --peer-netns "/run/netns/$XL_NS_A" --key bind --count 5 --hold-file "$hold" \
            --timeout-ms 10000 >/dev/null &
        probe_pid=$!
        xl_wait_for 100 test -s "$hold" || xl_fail "xsk_probe did not enter its bind"
        "$XLANE" flows >"$TMP/flows.txt" || xl_fail "xlane flows failed"
        grep -q "$XL_ADDR_B:$port" "$TMP/flows.txt" || xl_fail "xlane flows lacks the bind: $(cat "$TMP/flows.txt")"
        "$XLANE" flows --json | python3 -c '
import json, sys
iface, port, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
e = [e for e in json.load(sys.stdin)["entries"] if e["interface"] == iface]
assert len(e) == 1, e
e = e[0]
assert e["kind"] == "bind" and e["proto"] == "udp" and e["local"] == "198.18.0.2:" + port, e
assert e["remote"] is None and e["owner_pid"] == pid and e["owner_alive"] and e["test_entry"], e
' "$XL_IF_B" "$port" "$(cat "$hold")" || xl_fail "xlane flows --json does not show the bind"
        "$XLANE" status --json | python3 -c '
import json, sys
a = [a for a in json.load(sys.stdin)["attachments"] if a["interface"] == sys.argv[1]][0]
assert a["maps"]["xlane_binds"]["entries"] == 1, a["maps"]' "$XL_IF_B" ||
            xl_fail "status does not count the bind in xlane_binds"
        rm -f "$hold"
        wait "$probe_pid" || xl_fail "xsk_probe with --hold-file failed"
        xl_log "ok ($mode): flows and status show the live bind and its owner"
    fi

    # The probe removed its entries on exit.
    "$XLANE" flows --json | python3 -c '
import json, sys
left = [e for e in json.load(sys.stdin)["entries"] if e["interface"] == sys.argv[1]]
assert not left, left' "$XL_IF_B" || xl_fail "$mode: steering entries left behind"

    # (e) detach: no program, no pin.
    xl_in "$XL_NS_B" "$XLANE" detach "$XL_IF_B" || xl_fail "$mode: detach failed"
    [ ! -e "$DIR_B" ] || xl_fail "$mode: detach left $DIR_B"
    xl_in "$XL_NS_B" ip link show dev "$XL_IF_B" | contains "xdp" && xl_fail "$mode: detach left XDP on $XL_IF_B"
    xl_wait_for 50 bash -c "! bpftool prog show id $prog_id" || xl_fail "$mode: xlane_steer $prog_id still loaded"
    xl_log "ok ($mode): detach left no program and no pin"
}

run_mode native 9000
run_mode skb 9100
xl_log "PASS"
