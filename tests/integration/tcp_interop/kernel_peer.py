#!/usr/bin/env python3
"""The Linux kernel's TCP as the reference peer of xlane's user-space TCP.

  kernel_peer.py server ADDR PORT NBYTES   # accept one: read to EOF, then send NBYTES, close
  kernel_peer.py client ADDR PORT NBYTES   # connect: send NBYTES, SHUT_WR, read to EOF, close
  kernel_peer.py slow ADDR PORT NBYTES     # like server, but reads nothing for 2 s (zero window)
  kernel_peer.py reset ADDR PORT NBYTES    # accept, read NBYTES, then close with RST (SO_LINGER 0)
  kernel_peer.py expect-reset ADDR PORT 0  # accept, read until the peer's RST arrives

Prints one line: RESULT sent=N sent_crc=X received=M received_crc=Y (CRC-32,
as zlib computes it). Every wait is bounded; exit 0 on success, 1 otherwise.
"""
import os
import socket
import struct
import sys
import time
import zlib

TIMEOUT = 60.0


def send_all(sock, nbytes):
    crc, sent = 0, 0
    while sent < nbytes:
        chunk = os.urandom(min(65536, nbytes - sent))
        sock.sendall(chunk)
        crc = zlib.crc32(chunk, crc)
        sent += len(chunk)
    return sent, crc


def read_to_eof(sock):
    crc, received = 0, 0
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return received, crc
        crc = zlib.crc32(chunk, crc)
        received += len(chunk)


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def report(sent, sent_crc, received, received_crc):
    print(f"RESULT sent={sent} sent_crc={sent_crc:08x} "
          f"received={received} received_crc={received_crc:08x}", flush=True)


def server(addr, port, nbytes):
    with socket.socket(family(addr), socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.settimeout(TIMEOUT)
        listener.bind((addr, port))
        listener.listen(1)
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            received, received_crc = read_to_eof(conn)
            sent, sent_crc = send_all(conn, nbytes)
            conn.shutdown(socket.SHUT_WR)
            # Wait for the peer's FIN so our close is a clean one (no RST).
            conn.recv(1)
    report(sent, sent_crc, received, received_crc)


def listen_one(addr, port):
    listener = socket.socket(family(addr), socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.settimeout(TIMEOUT)
    listener.bind((addr, port))
    listener.listen(1)
    conn, _ = listener.accept()
    listener.close()
    conn.settimeout(TIMEOUT)
    return conn


def slow(addr, port, nbytes):
    with listen_one(addr, port) as conn:
        time.sleep(2.0)  # the receive buffer fills and the window closes
        received, received_crc = read_to_eof(conn)
        sent, sent_crc = send_all(conn, nbytes)
        conn.shutdown(socket.SHUT_WR)
        conn.recv(1)
    report(sent, sent_crc, received, received_crc)


def reset(addr, port, nbytes):
    conn = listen_one(addr, port)
    received, received_crc = 0, 0
    while received < nbytes:
        chunk = conn.recv(65536)
        if not chunk:
            break
        received_crc = zlib.crc32(chunk, received_crc)
        received += len(chunk)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()  # linger 0: RST instead of FIN
    report(0, 0, received, received_crc)


def expect_reset(addr, port, _nbytes):
    with listen_one(addr, port) as conn:
        received, received_crc = 0, 0
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    raise OSError("orderly EOF where a reset was expected")
                received_crc = zlib.crc32(chunk, received_crc)
                received += len(chunk)
        except ConnectionResetError:
            print("RESET", flush=True)
    report(0, 0, received, received_crc)


def client(addr, port, nbytes):
    with socket.create_connection((addr, port), timeout=TIMEOUT) as conn:
        sent, sent_crc = send_all(conn, nbytes)
        conn.shutdown(socket.SHUT_WR)
        received, received_crc = read_to_eof(conn)
    report(sent, sent_crc, received, received_crc)


def main():
    modes = {"server": server, "client": client, "slow": slow, "reset": reset,
             "expect-reset": expect_reset}
    if len(sys.argv) != 5 or sys.argv[1] not in modes:
        print(__doc__, file=sys.stderr)
        return 1
    mode, addr, port, nbytes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    try:
        modes[mode](addr, port, nbytes)
    except OSError as error:
        print(f"kernel_peer {mode}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
