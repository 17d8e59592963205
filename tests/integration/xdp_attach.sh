#!/usr/bin/env bash
# `xlane attach/detach/status/flows/doctor` on a veth pair between two test
# namespaces: pins and bpftool names, idempotence, mode change refusal,
# refusal of a foreign XDP program (and --force), rollback of a failed attach,
# refusal under `ip netns exec`, status/flows JSON, stale pins, clean detach.
#
#   xdp_attach.sh XLANE_BINARY FOREIGN_XDP_OBJECT
XLANE="${1:?usage: xdp_attach.sh XLANE_BINARY FOREIGN_XDP_OBJECT}"
FOREIGN_OBJ="${2:?usage: xdp_attach.sh XLANE_BINARY FOREIGN_XDP_OBJECT}"
XL_TAG=attach
. "$(dirname "$0")/lib.sh"
xl_require_root

# grep -q for pipelines: it reads all its input, so under pipefail the writer
# never dies of SIGPIPE when the match comes early.
contains() { grep -e "$1" >/dev/null; }

ERR="$(mktemp)"
OUT="$(mktemp)"
xl_on_exit "rm -f '$ERR' '$OUT'"

# xlane in a namespace; stdout in $OUT, stderr in $ERR, returns its exit code.
xlane_in() {
    local ns="$1"
    shift
    xl_in "$ns" "$XLANE" "$@" >"$OUT" 2>"$ERR"
}
# The error contract: non-zero exit, exactly one line on stderr, containing $1.
expect_error() {
    local needle="$1"
    shift
    if xlane_in "$@"; then xl_fail "xlane $* succeeded, expected an error"; fi
    [ "$(wc -l <"$ERR")" -eq 1 ] || xl_fail "xlane $*: expected one stderr line, got: $(cat "$ERR")"
    grep -qF -- "$needle" "$ERR" || xl_fail "xlane $*: stderr lacks '$needle': $(cat "$ERR")"
    xl_log "ok: xlane ${*:2} refused: $(cat "$ERR")"
}
netns_id() { echo "netns-$(stat -L -c %i "/run/netns/$1")"; }
pin_dir() { echo "/sys/fs/bpf/xlane/$(netns_id "$1")/$2"; }
xdp_prog_id() { xl_in "$1" ip -j link show dev "$2" | python3 -c \
    'import json,sys; l=json.load(sys.stdin)[0]; print(l.get("xdp",{}).get("prog",{}).get("id",0))'; }
prog_gone() { ! bpftool prog show id "$1" >/dev/null 2>&1; }

xl_make_hosts
DIR_B="$(pin_dir "$XL_NS_B" "$XL_IF_B")"
DIR_A="$(pin_dir "$XL_NS_A" "$XL_IF_A")"
# Pins this test may leave behind if it fails half way.
xl_on_exit "rm -rf '$DIR_A' '$DIR_B' '$(dirname "$DIR_A")' '$(dirname "$DIR_B")'"
xl_on_exit "xl_in $XL_NS_A '$XLANE' detach $XL_IF_A; xl_in $XL_NS_B '$XLANE' detach $XL_IF_B"

# --help on every command.
for cmd in "" attach detach status flows doctor; do
    "$XLANE" $cmd --help >"$OUT" 2>&1 || xl_fail "xlane $cmd --help failed"
    grep -q "Usage" "$OUT" || xl_fail "xlane $cmd --help printed no usage"
done
xl_log "ok: --help on every command"

# doctor: everything this host needs is present (the suite runs on such hosts).
"$XLANE" doctor >"$OUT" 2>"$ERR" || xl_fail "xlane doctor failed: $(cat "$OUT" "$ERR")"
for what in "XDP programs" "AF_XDP sockets" "sockmap" "sock_ops" "bpffs" "cgroup v2" capabilities memlock; do
    grep -q "$what" "$OUT" || xl_fail "xlane doctor does not check $what"
done
xl_log "ok: doctor"

# Attach, then attach again: idempotent.
xlane_in "$XL_NS_B" attach "$XL_IF_B" || xl_fail "attach failed: $(cat "$ERR")"
grep -q "in skb mode (auto: a veth" "$OUT" || xl_fail "attach on a veth did not choose skb mode: $(cat "$OUT")"
for pin in link xlane_steer xlane_flows xlane_binds xlane_xsks xlane_stats; do
    [ -e "$DIR_B/$pin" ] || xl_fail "missing pin $DIR_B/$pin"
done
PROG_ID="$(xdp_prog_id "$XL_NS_B" "$XL_IF_B")"
[ "$PROG_ID" != 0 ] || xl_fail "no XDP program on $XL_IF_B after attach"
xlane_in "$XL_NS_B" attach "$XL_IF_B" || xl_fail "second attach failed: $(cat "$ERR")"
grep -q "already attached to $XL_IF_B in skb mode" "$OUT" ||
    xl_fail "second attach did not say it was attached: $(cat "$OUT")"
[ "$(xdp_prog_id "$XL_NS_B" "$XL_IF_B")" = "$PROG_ID" ] || xl_fail "second attach replaced the program"
xl_log "ok: attach is idempotent (program id $PROG_ID)"

# Another mode needs a detach first.
expect_error "detach" "$XL_NS_B" attach "$XL_IF_B" --mode native

# bpftool sees xlane's names: the program and every pinned map.
bpftool prog show id "$PROG_ID" | contains "name xlane_steer" || xl_fail "bpftool: no xlane_steer"
for map in xlane_flows xlane_binds xlane_xsks xlane_stats; do
    bpftool map show pinned "$DIR_B/$map" | contains "name $map" ||
        xl_fail "bpftool map show pinned $DIR_B/$map lacks name $map"
done
xl_log "ok: bpftool shows xlane_steer and the xlane_ maps"

# status: human and JSON, with the namespace's name, mode and counters.
"$XLANE" status >"$OUT" 2>"$ERR" || xl_fail "status failed: $(cat "$ERR")"
grep -q "$XL_NS_B" "$OUT" || xl_fail "status does not name netns $XL_NS_B: $(cat "$OUT")"
"$XLANE" status --json >"$OUT" 2>"$ERR" || xl_fail "status --json failed: $(cat "$ERR")"
python3 - "$OUT" "$XL_NS_B" "$XL_IF_B" "$PROG_ID" <<'PY' || xl_fail "status --json: $(cat "$OUT")"
import json, sys
doc = json.load(open(sys.argv[1]))
mine = [a for a in doc["attachments"] if a["interface"] == sys.argv[3]]
assert len(mine) == 1, mine
a = mine[0]
assert a["netns"] == sys.argv[2] and a["mode"] == "skb" and not a["stale"], a
assert a["prog_id"] == int(sys.argv[4]) and a["ifindex"] > 0 and a["link_id"] > 0, a
assert a["maps"]["xlane_flows"] == {"entries": 0, "max_entries": 65536}, a["maps"]
assert a["maps"]["xlane_binds"]["max_entries"] == 4096, a["maps"]
assert set(a["counters"]) >= {"redirect_flow", "redirect_bind", "pass_no_xsk", "pass_no_match"}
assert all(c["packets"] >= 0 and c["bytes"] >= 0 for c in a["counters"].values())
PY
"$XLANE" flows --json >"$OUT" 2>"$ERR" || xl_fail "flows --json failed: $(cat "$ERR")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert isinstance(d["entries"], list)' "$OUT" ||
    xl_fail "flows --json does not parse: $(cat "$OUT")"
xl_log "ok: status and flows (text and JSON)"

# A foreign program attached through netlink is refused, with no pins made...
xl_in "$XL_NS_A" ip link set dev "$XL_IF_A" xdpdrv obj "$FOREIGN_OBJ" sec xdp ||
    xl_fail "cannot attach the foreign test program"
FOREIGN_ID="$(xdp_prog_id "$XL_NS_A" "$XL_IF_A")"
expect_error "--force" "$XL_NS_A" attach "$XL_IF_A"
[ ! -e "$DIR_A" ] || xl_fail "refused attach left pins in $DIR_A"
[ "$(xdp_prog_id "$XL_NS_A" "$XL_IF_A")" = "$FOREIGN_ID" ] || xl_fail "refused attach touched the foreign program"
# ...and replaced under --force.
xlane_in "$XL_NS_A" attach "$XL_IF_A" --force || xl_fail "attach --force failed: $(cat "$ERR")"
NEW_ID="$(xdp_prog_id "$XL_NS_A" "$XL_IF_A")"
if [ "$NEW_ID" = "$FOREIGN_ID" ] || ! bpftool prog show id "$NEW_ID" | contains "name xlane_steer"; then
    xl_fail "attach --force did not put xlane_steer in place"
fi
xlane_in "$XL_NS_A" detach "$XL_IF_A" || xl_fail "detach after --force failed: $(cat "$ERR")"
xl_log "ok: foreign program refused, replaced under --force"

# A foreign program attached through a bpf_link cannot be replaced, not even
# under --force. The foreign link here is xlane's own, pinned in a second
# bpffs instance that the default pin tree knows nothing about.
OTHER_BPFFS="$(mktemp -d)"
mount -t bpf bpf "$OTHER_BPFFS" || xl_fail "cannot mount a second bpffs"
xl_on_exit "umount '$OTHER_BPFFS'; rmdir '$OTHER_BPFFS'"
XLANE_BPFFS="$OTHER_BPFFS" xl_in "$XL_NS_A" "$XLANE" attach "$XL_IF_A" >"$OUT" 2>"$ERR" ||
    xl_fail "attach with XLANE_BPFFS failed: $(cat "$ERR")"
[ -e "$OTHER_BPFFS/xlane/$(netns_id "$XL_NS_A")/$XL_IF_A/link" ] || xl_fail "XLANE_BPFFS not honoured"
LINKED_ID="$(xdp_prog_id "$XL_NS_A" "$XL_IF_A")"
expect_error "bpf_link" "$XL_NS_A" attach "$XL_IF_A"
expect_error "bpf_link" "$XL_NS_A" attach "$XL_IF_A" --force
[ ! -e "$DIR_A" ] || xl_fail "refused attach --force left pins in $DIR_A"
[ "$(xdp_prog_id "$XL_NS_A" "$XL_IF_A")" = "$LINKED_ID" ] || xl_fail "attach --force touched the foreign link"
XLANE_BPFFS="$OTHER_BPFFS" xl_in "$XL_NS_A" "$XLANE" detach "$XL_IF_A" >"$OUT" 2>"$ERR" ||
    xl_fail "detach with XLANE_BPFFS failed: $(cat "$ERR")"
[ "$(xdp_prog_id "$XL_NS_A" "$XL_IF_A")" = 0 ] || xl_fail "detach with XLANE_BPFFS left a program"
xl_log "ok: a foreign bpf_link is refused even under --force"

# A failed attach (a bridge has no native XDP: the link step fails after the
# program and maps were pinned) leaves no pins and no program.
BRIDGE="xbr$XL_ID"
xl_in "$XL_NS_B" ip link add "$BRIDGE" type bridge || xl_fail "cannot create bridge"
DIR_BR="$(pin_dir "$XL_NS_B" "$BRIDGE")"
xl_on_exit "rm -rf '$DIR_BR'"
expect_error "--mode skb" "$XL_NS_B" attach "$BRIDGE" --mode native
[ ! -e "$DIR_BR" ] || xl_fail "failed attach left pins in $DIR_BR"
[ -d "$DIR_B" ] || xl_fail "failed attach on $BRIDGE removed the pins of $XL_IF_B"
# xlane has exited, so its program survives only if pinned or attached.
[ "$(xdp_prog_id "$XL_NS_B" "$BRIDGE")" = 0 ] || xl_fail "failed attach left a program on $BRIDGE"
# Same failure after --force displaced a foreign program: it is put back.
xl_in "$XL_NS_B" ip link set dev "$BRIDGE" xdpgeneric obj "$FOREIGN_OBJ" sec xdp ||
    xl_fail "cannot attach the foreign test program to $BRIDGE"
FOREIGN_ID="$(xdp_prog_id "$XL_NS_B" "$BRIDGE")"
expect_error "--mode skb" "$XL_NS_B" attach "$BRIDGE" --mode native --force
[ "$(xdp_prog_id "$XL_NS_B" "$BRIDGE")" = "$FOREIGN_ID" ] ||
    xl_fail "failed attach --force did not put the foreign program back"
[ ! -e "$DIR_BR" ] || xl_fail "failed attach --force left pins in $DIR_BR"
xl_in "$XL_NS_B" ip link set dev "$BRIDGE" xdpgeneric off
xlane_in "$XL_NS_B" attach "$BRIDGE" --mode skb || xl_fail "skb attach on the bridge failed: $(cat "$ERR")"
xl_in "$XL_NS_B" ip -d link show dev "$BRIDGE" | contains "xdpgeneric" || xl_fail "--mode skb did not attach generic XDP"
xlane_in "$XL_NS_B" detach "$BRIDGE" || xl_fail "detach of the bridge failed: $(cat "$ERR")"
# The default (auto) tries native there, and takes generic XDP after the refusal.
xlane_in "$XL_NS_B" attach "$BRIDGE" || xl_fail "attach on the bridge (auto) failed: $(cat "$ERR")"
grep -q "in skb mode (auto: the driver has no native XDP)" "$OUT" ||
    xl_fail "auto on the bridge did not fall back to skb mode: $(cat "$OUT")"
xl_in "$XL_NS_B" ip -d link show dev "$BRIDGE" | contains "xdpgeneric" || xl_fail "auto did not attach generic XDP"
xlane_in "$XL_NS_B" detach "$BRIDGE" || xl_fail "detach of the bridge failed: $(cat "$ERR")"
xl_log "ok: failed attach rolled back; --mode skb works, and auto falls back to it"

# Under `ip netns exec` (private /sys, host bpffs hidden) xlane refuses.
if ip netns exec "$XL_NS_A" "$XLANE" attach "$XL_IF_A" >"$OUT" 2>"$ERR"; then
    xl_fail "attach under ip netns exec succeeded"
fi
grep -q "nsenter" "$ERR" || xl_fail "ip netns exec refusal does not name the fix: $(cat "$ERR")"
[ ! -e "$DIR_A" ] || xl_fail "attach under ip netns exec left pins"
xl_log "ok: ip netns exec refused: $(cat "$ERR")"

# Detach removes the program and every pin; a second detach is an error.
xlane_in "$XL_NS_B" detach "$XL_IF_B" || xl_fail "detach failed: $(cat "$ERR")"
[ ! -e "$DIR_B" ] || xl_fail "detach left $DIR_B"
[ "$(xdp_prog_id "$XL_NS_B" "$XL_IF_B")" = 0 ] || xl_fail "detach left an XDP program on $XL_IF_B"
xl_wait_for 50 prog_gone "$PROG_ID" || xl_fail "program $PROG_ID still loaded after detach"
! bpftool prog show | contains "^$PROG_ID: .*xlane_steer" || xl_fail "bpftool still shows xlane_steer $PROG_ID"
expect_error "not attached" "$XL_NS_B" detach "$XL_IF_B"
xl_log "ok: detach leaves no program and no pin"

# Stale pins: the interface disappears under an attachment.
xlane_in "$XL_NS_B" attach "$XL_IF_B" || xl_fail "re-attach failed: $(cat "$ERR")"
xl_in "$XL_NS_B" ip link del "$XL_IF_B" || xl_fail "cannot delete $XL_IF_B"
"$XLANE" status --json >"$OUT" 2>"$ERR" || xl_fail "status --json failed: $(cat "$ERR")"
python3 - "$OUT" "$XL_IF_B" <<'PY' || xl_fail "status does not flag the stale pins: $(cat "$OUT")"
import json, sys
a = [a for a in json.load(open(sys.argv[1]))["attachments"] if a["interface"] == sys.argv[2]][0]
assert a["stale"] and "gone" in a["problem"], a
PY
"$XLANE" status >"$OUT" 2>"$ERR"
grep -q "detach --stale" "$OUT" || xl_fail "status does not say how to clean stale pins: $(cat "$OUT")"
"$XLANE" detach --stale >"$OUT" 2>"$ERR" || xl_fail "detach --stale failed: $(cat "$ERR")"
[ ! -e "$DIR_B" ] || xl_fail "detach --stale left $DIR_B"
xl_log "ok: stale pins reported and removed"

xl_log "PASS"
