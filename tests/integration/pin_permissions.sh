#!/usr/bin/env bash
# Pin permissions of `xlane attach`: the directories and pins under
# /sys/fs/bpf/xlane are root's (and, when the system group `xlane` exists,
# readable by its members, who may also update the steering maps); an
# unprivileged process (nobody) can neither change xlane_binds nor read
# xlane_stats. The same bpftool commands succeed as root, so a refusal can
# only come from the permissions.
#
#   pin_permissions.sh XLANE_BINARY
XLANE="${1:?usage: pin_permissions.sh XLANE_BINARY}"
XL_TAG=perm
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/lib.sh"
xl_require_root
command -v setpriv >/dev/null || xl_fail "setpriv (util-linux) is needed"

xl_make_hosts
NETNS_ID="netns-$(stat -L -c %i "/run/netns/$XL_NS_B")"
DIR="/sys/fs/bpf/xlane/$NETNS_ID/$XL_IF_B"
xl_on_exit "rm -rf '$DIR'; rmdir '$(dirname "$DIR")'"
xl_on_exit "xl_in $XL_NS_B '$XLANE' detach $XL_IF_B"
xl_in "$XL_NS_B" "$XLANE" attach "$XL_IF_B" || xl_fail "xlane attach $XL_IF_B failed"

group_gid="$(getent group xlane | cut -d: -f3 || true)"
mode_of() { stat -c '%a %G' "$1"; }
expect_mode() {  # PATH "MODE GROUP" without the xlane group, "MODE GROUP" with it
    local want="$2"
    [ -z "$group_gid" ] || want="$3"
    [ "$(mode_of "$1")" = "$want" ] || xl_fail "$1 is $(mode_of "$1"), expected $want"
}
expect_mode "$(dirname "$DIR")" "700 root" "750 xlane"
expect_mode "$DIR" "700 root" "750 xlane"
expect_mode "$DIR/link" "600 root" "600 root"
expect_mode "$DIR/xlane_steer" "600 root" "600 root"
for map in xlane_flows xlane_binds xlane_xsks; do expect_mode "$DIR/$map" "600 root" "660 xlane"; done
expect_mode "$DIR/xlane_stats" "600 root" "640 xlane"
xl_log "ok: pin modes (group xlane: ${group_gid:-absent})"

# xlane_bind_key { addr[16] = ::ffff:198.18.0.2, port_be 7777, proto UDP, pad }
# xlane_steer_value { owner_pid, flags = TEST_ENTRY, owner_start_time }.
key="hex 00 00 00 00 00 00 00 00 00 00 ff ff c6 12 00 02 1e 61 11 00"
value="hex 01 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00"
update=(bpftool map update pinned "$DIR/xlane_binds" key $key value $value)
delete=(bpftool map delete pinned "$DIR/xlane_binds" key $key)
as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)

"${update[@]}" || xl_fail "root cannot update xlane_binds (the command itself is wrong)"
"${delete[@]}" || xl_fail "root cannot delete from xlane_binds"
if "${as_nobody[@]}" "${update[@]}" 2>"$DIR.err.$$"; then
    "${delete[@]}"
    rm -f "$DIR.err.$$"
    xl_fail "nobody updated xlane_binds"
fi
rm -f "$DIR.err.$$"
# BPF_OBJ_GET straight through the bpf syscall, read-only (bpftool opens
# pins read-write): exit 0 when the pin opened.
open_readonly() {
    python3 - "$1" <<'PY'
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
NR_BPF, BPF_OBJ_GET, BPF_F_RDONLY = 321, 7, 1 << 3  # x86_64
path = ctypes.create_string_buffer(sys.argv[1].encode())
attr = (ctypes.c_uint8 * 128)()  # union bpf_attr: pathname u64, bpf_fd u32, file_flags u32
ctypes.c_uint64.from_buffer(attr, 0).value = ctypes.addressof(path)
ctypes.c_uint32.from_buffer(attr, 12).value = BPF_F_RDONLY
sys.exit(0 if libc.syscall(NR_BPF, BPF_OBJ_GET, attr, 128) >= 0 else 1)
PY
}
open_readonly "$DIR/xlane_stats" || xl_fail "root cannot open xlane_stats read-only"
"${as_nobody[@]}" bash -c "$(declare -f open_readonly); open_readonly '$DIR/xlane_stats'" &&
    xl_fail "nobody opened xlane_stats"
"${as_nobody[@]}" bpftool map dump pinned "$DIR/xlane_flows" >/dev/null 2>&1 &&
    xl_fail "nobody read xlane_flows"
# Unlinking the link pin would detach the program: never for nobody.
"${as_nobody[@]}" rm -f "$DIR/link" 2>/dev/null
[ -e "$DIR/link" ] || xl_fail "nobody removed the link pin"
xl_log "ok: nobody cannot change xlane_binds, read xlane_stats/xlane_flows or unpin the link"

if [ -n "$group_gid" ]; then
    as_member=(setpriv --reuid=65534 --regid=65534 --groups="$group_gid")
    "${as_member[@]}" "${update[@]}" || xl_fail "a member of group xlane cannot update xlane_binds"
    "${delete[@]}"
    "${as_member[@]}" bash -c "$(declare -f open_readonly); open_readonly '$DIR/xlane_stats'" ||
        xl_fail "a member of group xlane cannot open xlane_stats read-only"
    "${as_member[@]}" rm -f "$DIR/link" 2>/dev/null
    [ -e "$DIR/link" ] || xl_fail "a member of group xlane removed the link pin"
    xl_log "ok: members of group xlane update the steering maps and read the counters, nothing more"
fi
