#!/usr/bin/env python3
"""TCP and UDP echo for the preload tests: an unmodified program whose output
must not change under LD_PRELOAD=libxlane.so.

  echo.py server PORT READY_FILE ADDR...   echo TCP and UDP on every ADDR, PORT
  echo.py client ADDR PORT                 exchange messages, print one line each
"""
import hashlib
import os
import selectors
import socket
import socketserver
import sys
import tempfile
import threading

TIMEOUT = 10  # seconds, on every blocking call


class TcpEcho(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)


class UdpEcho(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(data, self.client_address)


def serve(port, ready_file, addrs):
    servers = []
    for addr in addrs:
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        for base, handler in ((socketserver.ThreadingTCPServer, TcpEcho),
                              (socketserver.UDPServer, UdpEcho)):
            cls = type("Server", (base,), {"address_family": family,
                                           "allow_reuse_address": True,
                                           "daemon_threads": True})
            servers.append(cls((addr, port), handler))
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    with open(ready_file, "w") as f:
        f.write("ready\n")
    threading.Event().wait()


def digest(data):
    return hashlib.sha256(data).hexdigest()[:16]


def recv_exactly(sock, size):
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(min(65536, size - got))
        if not chunk:
            raise RuntimeError(f"connection closed after {got} of {size} bytes")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def client(addr, port):
    if os.environ.get("XLANE_TEST_EXPECT_PRELOAD") == "1":
        with open("/proc/self/maps") as maps:
            if "libxlane.so" not in maps.read():
                sys.exit("libxlane.so is not loaded in the client")
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    pattern = bytes(range(256)) * 4096  # 1 MiB, deterministic

    # TCP: sizes across one byte, one segment, many segments.
    with socket.create_connection((addr, port), timeout=TIMEOUT) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for size in (1, 1000, 65536, len(pattern)):
            sock.sendall(pattern[:size])
            back = recv_exactly(sock, size)
            print(f"tcp sendall/recv {size:>8} bytes echoed {digest(back)}")
        # sendmsg/recvmsg with two buffers, recv_into.
        sock.sendmsg([b"scatter", b"-gather"])
        buf = bytearray(14)
        view, got = memoryview(buf), 0
        while got < 14:
            got += sock.recv_into(view[got:])
        print(f"tcp sendmsg/recv_into {bytes(buf)!r}")
        # socket.sendfile -> os.sendfile on Linux.
        with tempfile.TemporaryFile() as f:
            f.write(pattern[:300000])
            f.flush()
            f.seek(0)
            sent = sock.sendfile(f)
        back = recv_exactly(sock, sent)
        print(f"tcp sendfile {sent} bytes echoed {digest(back)}")
        print(f"tcp getpeername matches {sock.getpeername()[0] == addr}, "
              f"nodelay {sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)}")

    # Non-blocking connect driven by a selector (epoll), then half-close.
    sel = selectors.DefaultSelector()
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    err = sock.connect_ex((addr, port))
    sel.register(sock, selectors.EVENT_WRITE)
    ready = sel.select(TIMEOUT)
    print(f"tcp nonblocking connect in progress={err != 0} writable={len(ready)} "
          f"so_error={sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)}")
    sock.setblocking(True)
    sock.settimeout(TIMEOUT)
    sock.sendall(b"half-close")
    sock.shutdown(socket.SHUT_WR)
    print(f"tcp after shutdown(SHUT_WR) {recv_exactly(sock, 10)!r} then eof={sock.recv(1) == b''}")
    sel.close()
    sock.close()

    # UDP: datagrams keep their boundaries; recvfrom names the server.
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(TIMEOUT)
        for size in (0, 1, 1400, 8000):
            sock.sendto(pattern[:size], (addr, port))
            data, peer = sock.recvfrom(65536)
            print(f"udp sendto/recvfrom {size:>5} bytes echoed {len(data)} {digest(data)} "
                  f"from server {peer[0] == addr and peer[1] == port}")
        sock.connect((addr, port))
        sock.send(b"connected")
        print(f"udp connected send/recv {sock.recv(64)!r}")

    # Refused: nothing listens on port + 1.
    try:
        socket.create_connection((addr, port + 1), timeout=TIMEOUT)
        print("tcp connect to closed port: connected?!")
    except ConnectionRefusedError as e:
        print(f"tcp connect to closed port: {type(e).__name__} errno={e.errno}")


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "server":
        serve(int(sys.argv[2]), sys.argv[3], sys.argv[4:])
    elif len(sys.argv) == 4 and sys.argv[1] == "client":
        client(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
