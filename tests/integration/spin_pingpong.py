#!/usr/bin/env python3
"""One-byte ping-pong for spin_shared_cpu.sh: the median time of a client's
round trips, waiting for each reply in the way it is told.

  spin_pingpong.py server tcp|udp ADDR PORT
  spin_pingpong.py client tcp|udp ADDR PORT recv|poll|select|epoll TRIPS

The server echoes every byte back with a blocking receive until its client
goes away (TCP) or sends b"q" (UDP). The client prints "median round trip
N us" after TRIPS round trips.
"""
import select
import socket
import statistics
import struct
import sys
import time


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def serve(proto, addr, port):
    fam = family_of(addr)
    if proto == "tcp":
        lsock = socket.socket(fam, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((addr, port))
        lsock.listen(1)
        print("ready", flush=True)
        conn, _ = lsock.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            data = conn.recv(1)
            if not data:
                return
            conn.sendall(data)
    sock = socket.socket(fam, socket.SOCK_DGRAM)
    sock.bind((addr, port))
    print("ready", flush=True)
    while True:
        data, peer = sock.recvfrom(16)
        if data == b"q":
            return
        sock.sendto(data, peer)


def waiter(sock, mode):
    """A function that returns once `sock` is readable, waiting as `mode` says."""
    if mode == "recv":
        return lambda: None
    if mode == "poll":
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return lambda: poller.poll(10_000)
    if mode == "select":
        return lambda: select.select([sock], [], [], 10.0)
    if mode == "epoll":
        ep = select.epoll()
        ep.register(sock.fileno(), select.EPOLLIN)
        return lambda: ep.poll(10.0)
    sys.exit(f"unknown wait mode {mode}")


def client(proto, addr, port, mode, trips):
    fam = family_of(addr)
    if proto == "tcp":
        sock = socket.create_connection((addr, port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    else:
        sock = socket.socket(fam, socket.SOCK_DGRAM)
        sock.connect((addr, port))
    # Blocking (a Python timeout would make every recv a poll() first); a lost
    # datagram still fails the run instead of hanging it.
    sock.settimeout(None)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 10, 0))
    wait = waiter(sock, mode)
    times = []
    for _ in range(trips):
        start = time.monotonic_ns()
        sock.send(b"x")
        wait()
        if sock.recv(16) != b"x":
            sys.exit("wrong echo")
        times.append(time.monotonic_ns() - start)
    if proto == "udp":
        sock.send(b"q")
    sock.close()
    print(f"median round trip {int(statistics.median(times)) // 1000} us", flush=True)


def main():
    role, proto, addr, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if role == "server":
        serve(proto, addr, port)
    else:
        client(proto, addr, port, sys.argv[5], int(sys.argv[6]))


if __name__ == "__main__":
    main()
