#!/usr/bin/python3
"""Cross-checks UdpEncoder frames with scapy, an independent implementation:
checksums recomputed by scapy must match ours, and scapy's own defragmenters
must rebuild the payload. Usage: scapy_crosscheck.py <udp_frame_dump binary>.
Exits 77 (skipped) when scapy is not installed."""
import json
import subprocess
import sys

try:
    from scapy.layers.inet import IP, UDP, defragment
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, defragment6
    from scapy.layers.l2 import Ether
except ImportError:
    print("scapy is not installed (apt-get install python3-scapy): skipped")
    sys.exit(77)


def rebuilt(packet, with_udp):
    """The same packet with scapy's own lengths and checksums (UDP's only for
    a whole datagram: a fragment holds part of what they cover)."""
    copy = packet.copy()
    layers = [(IP, ("chksum", "len")), (IPv6, ("plen",))]
    if with_udp:
        layers.append((UDP, ("chksum", "len")))
    for layer, fields in layers:
        if layer in copy:
            for field in fields:
                setattr(copy[layer], field, None)
    return bytes(copy)


def check(case):
    name = case["name"]
    payload = bytes.fromhex(case["payload"])
    frames = [Ether(bytes.fromhex(h)) for h in case["frames"]]
    for frame in frames:
        raw = bytes(frame)
        if rebuilt(frame, len(frames) == 1) != raw:
            return f"{name}: scapy recomputes different lengths or checksums"
    if len(frames) == 1 and UDP in frames[0]:
        datagram = frames[0]
    elif IP in frames[0]:
        if any(f[IP].flags.DF for f in frames):
            return f"{name}: DF set on a fragment"
        whole = defragment([f[IP] for f in frames])
        if len(whole) != 1:
            return f"{name}: scapy could not defragment ({len(whole)} pieces)"
        datagram = IP(bytes(whole[0]))
    else:
        if not all(IPv6ExtHdrFragment in f for f in frames):
            return f"{name}: multiple frames without fragment headers"
        # defragment6 leaves the payload undissected: parse it again.
        datagram = IPv6(bytes(defragment6([f[IPv6] for f in frames])))
    udp = datagram[UDP]
    if bytes(udp.payload) != payload:
        return f"{name}: payload differs after scapy's reassembly"
    if udp.len != len(payload) + 8:
        return f"{name}: UDP length {udp.len}, expected {len(payload) + 8}"
    # The UDP checksum covers the whole datagram, so only the reassembled
    # form can check it; scapy treats a computed 0 as 0xffff, as we do.
    carrier = datagram.copy()
    carrier[UDP].chksum = None
    if IP in carrier:
        carrier[IP].chksum = None
        carrier[IP].len = None
    expected = type(carrier)(bytes(carrier))[UDP].chksum
    if udp.chksum != expected:
        return f"{name}: UDP checksum {udp.chksum:#06x}, scapy says {expected:#06x}"
    return None


def main():
    output = subprocess.run([sys.argv[1]], check=True, capture_output=True, text=True,
                            timeout=60).stdout
    cases = [json.loads(line) for line in output.splitlines()]
    failures = [f for f in map(check, cases) if f]
    for failure in failures:
        print("FAIL", failure)
    print(f"{len(cases) - len(failures)}/{len(cases)} cases agree with scapy")
    return 1 if failures or not cases else 0


if __name__ == "__main__":
    sys.exit(main())
