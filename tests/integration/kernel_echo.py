#!/usr/bin/env python3
"""Kernel-socket echo for integration tests: proves real TCP and UDP
exchanges still work through an interface with xlane attached.

  kernel_echo.py serve tcp|udp ADDR PORT     # echoes one TCP connection / 16 datagrams
  kernel_echo.py check tcp|udp ADDR PORT     # sends, expects the exact echo back

Every wait is bounded (10 s); exit 0 on success, 1 with a reason otherwise.
"""
import os
import socket
import sys

TIMEOUT = 10.0
TCP_BYTES = 256 * 1024  # many segments, both directions
UDP_DATAGRAMS = 16


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def serve(proto, addr, port):
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(family(addr), kind) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.settimeout(TIMEOUT)
        s.bind((addr, port))
        if proto == "tcp":
            s.listen(1)
            print("ready", flush=True)
            conn, _ = s.accept()
            with conn:
                conn.settimeout(TIMEOUT)
                while True:
                    data = conn.recv(65536)
                    if not data:
                        return 0
                    conn.sendall(data)
        print("ready", flush=True)
        for _ in range(UDP_DATAGRAMS):
            data, peer = s.recvfrom(65536)
            s.sendto(data, peer)
    return 0


def check(proto, addr, port):
    if proto == "tcp":
        payload = os.urandom(TCP_BYTES)
        with socket.create_connection((addr, port), timeout=TIMEOUT) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            got = bytearray()
            while len(got) < len(payload):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        if bytes(got) != payload:
            print(f"tcp echo mismatch: sent {len(payload)} bytes, got {len(got)}")
            return 1
        return 0
    with socket.socket(family(addr), socket.SOCK_DGRAM) as s:
        s.settimeout(TIMEOUT)
        s.connect((addr, port))
        for i in range(UDP_DATAGRAMS):
            payload = os.urandom(64 + i * 37)
            s.send(payload)
            if s.recv(65536) != payload:
                print(f"udp echo mismatch on datagram {i}")
                return 1
    return 0


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("serve", "check") or sys.argv[2] not in ("tcp", "udp"):
        print(__doc__)
        return 2
    mode, proto, addr, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    try:
        return (serve if mode == "serve" else check)(proto, addr, port)
    except OSError as e:
        print(f"{mode} {proto} {addr}:{port}: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
