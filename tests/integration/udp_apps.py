#!/usr/bin/env python3
"""Plain python3 UDP programs for preload_apps_udp.sh: unmodified socket code
whose every datagram is checked byte for byte, so that a test can tell a lost,
truncated, duplicated or corrupted datagram from a delivered one.

  udp_apps.py echo ADDR PORT READY_FILE
      echo every datagram back to its sender (until killed)
  udp_apps.py ping ADDR PORT COUNT [SIZE,SIZE,...]
      COUNT request/reply exchanges (sendto/recvfrom, then connect/send/recv),
      sizes cycling over SIZES (or the sizes given); every reply must equal
      its request
  udp_apps.py sink ADDR PORT READY_FILE COUNT [GROUP]
      receive COUNT datagrams from `send` (joining multicast GROUP on the
      interface that has ADDR when given; then ADDR is only the interface)
  udp_apps.py send ADDR PORT COUNT [IFADDR]
      send COUNT numbered datagrams to ADDR:PORT (multicast out of IFADDR)

Every blocking call has a timeout; a missing datagram is an error (exit 1)
naming what was missing, never a hang.
"""
import hashlib
import os
import socket
import struct
import sys
import time

TIMEOUT = 3.0  # seconds, per expected datagram
# 0: empty datagram; 1472: the largest unfragmented IPv4 payload at MTU 1500;
# 3000: fragmented, which the XDP program leaves to the kernel.
SIZES = (0, 1, 64, 512, 1400, 1472, 3000)


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def payload(seq, size):
    """Deterministic bytes for datagram `seq`: its number first (when it fits),
    then a pattern that depends on it, so that a swapped or stale datagram
    never compares equal."""
    head = struct.pack("!I", seq)
    body = hashlib.sha256(head).digest() * (size // 32 + 1)
    return (head + body)[:size]


def check_preloaded():
    """With XLANE_TEST_EXPECT_PRELOAD=1 the test means this process to run
    under libxlane.so: fail early if it does not."""
    if os.environ.get("XLANE_TEST_EXPECT_PRELOAD") == "1":
        with open("/proc/self/maps") as maps:
            if "libxlane.so" not in maps.read():
                sys.exit("libxlane.so is not loaded in this process")


def write_ready(path):
    with open(path + ".tmp", "w") as f:
        f.write(f"{os.getpid()}\n")
    os.rename(path + ".tmp", path)


def echo(addr, port, ready):
    with socket.socket(family_of(addr), socket.SOCK_DGRAM) as sock:
        sock.bind((addr, port))
        write_ready(ready)
        while True:
            data, peer = sock.recvfrom(65536)
            sock.sendto(data, peer)


def ping(addr, port, count, sizes=SIZES):
    served = (addr, port)
    with socket.socket(family_of(addr), socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        for seq in range(count):
            size = sizes[seq % len(sizes)]
            sent = payload(seq, size)
            if seq < count // 2:
                sock.sendto(sent, served)
                try:
                    data, peer = sock.recvfrom(65536)
                except socket.timeout:
                    sys.exit(f"ping: no reply to datagram {seq} ({size} bytes) within {TIMEOUT} s")
                if peer[:2] != served:
                    sys.exit(f"ping: reply to {seq} came from {peer[:2]}, not {served}")
            else:
                if seq == count // 2:
                    sock.connect(served)
                sock.send(sent)
                try:
                    data = sock.recv(65536)
                except socket.timeout:
                    sys.exit(f"ping: no reply to connected datagram {seq} ({size} bytes) "
                             f"within {TIMEOUT} s")
            if data != sent:
                sys.exit(f"ping: reply to datagram {seq} differs: sent {size} bytes, "
                         f"got {len(data)} bytes")
    print(f"ping: {count} datagrams echoed intact ({', '.join(map(str, sizes))} bytes)")


def sink(addr, port, ready, count, group=None):
    fam = family_of(group or addr)
    with socket.socket(fam, socket.SOCK_DGRAM) as sock:
        if group:
            # The usual multicast receiver: wildcard bind, membership on one interface.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("", port))
            mreq = socket.inet_aton(group) + socket.inet_aton(addr)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        else:
            sock.bind((addr, port))
        sock.settimeout(TIMEOUT)
        write_ready(ready)
        seen = set()
        while len(seen) < count:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                missing = sorted(set(range(count)) - seen)
                sys.exit(f"sink: {len(seen)} of {count} datagrams received; none for "
                         f"{TIMEOUT} s; first missing: {missing[:10]}")
            if len(data) < 4:
                sys.exit(f"sink: a {len(data)}-byte datagram is not one of ours")
            seq = struct.unpack("!I", data[:4])[0]
            if seq >= count or data != payload(seq, len(data)) or len(data) != sink_size(seq):
                sys.exit(f"sink: datagram {seq} ({len(data)} bytes) is corrupted")
            if seq in seen:
                sys.exit(f"sink: datagram {seq} received twice")
            seen.add(seq)
    print(f"sink: {count} datagrams received intact")


def sink_size(seq):
    return 64 + (seq % 8) * 100


def send(addr, port, count, ifaddr=None):
    with socket.socket(family_of(addr), socket.SOCK_DGRAM) as sock:
        if ifaddr:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ifaddr))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        for seq in range(count):
            sock.sendto(payload(seq, sink_size(seq)), (addr, port))
            # Paced well below what a receive buffer holds: the test is about
            # delivery, and a burst could overflow even the kernel's socket.
            if seq % 32 == 31:
                time.sleep(0.002)
    print(f"send: {count} datagrams sent")


def main():
    check_preloaded()
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "echo":
        echo(a[1], int(a[2]), a[3])
    elif len(a) in (4, 5) and a[0] == "ping":
        sizes = tuple(int(n) for n in a[4].split(",")) if len(a) == 5 else SIZES
        ping(a[1], int(a[2]), int(a[3]), sizes)
    elif len(a) in (5, 6) and a[0] == "sink":
        sink(a[1], int(a[2]), a[3], int(a[4]), a[5] if len(a) == 6 else None)
    elif len(a) in (4, 5) and a[0] == "send":
        send(a[1], int(a[2]), int(a[3]), a[4] if len(a) == 5 else None)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
