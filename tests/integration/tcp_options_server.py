#!/usr/bin/env python3
"""The kernel peer of tcp_options_client.py: one connection at a time, each
opened by a request line.

  mss\\n            -> replies with its TCP_MAXSEG (bounded by the client's SYN);
                     also tells a client that every earlier connection is done
  quit\\n           -> ends the server
  hold H [N]\\n     -> reads nothing for H seconds, then everything up to EOF;
                     prints whether N bytes came (when N is given) or a
                     reset ended them, replies "eof"

PORT + 1 is a listener that never accepts, with room for one queued
connection: once a client holds that room, Linux drops every further SYN to
it (a full accept queue), so a connect stays in SYN-SENT.

  tcp_options_server.py ADDR PORT
"""
import socket, sys, time

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
# A small window (inherited by every connection): a client's bytes stay in
# flight while nothing is read here, whatever the kernel's autotuning.
listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
listener.bind((sys.argv[1], int(sys.argv[2])))
listener.listen(8)
stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
stalled.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
stalled.bind((sys.argv[1], int(sys.argv[2]) + 1))
stalled.listen(0)
print("ready", flush=True)
while True:
    conn, _ = listener.accept()
    request = b""
    while not request.endswith(b"\n"):
        request += conn.recv(1)
    words = request.decode().split()
    if words[0] == "quit":
        break
    if words[0] == "mss":
        conn.sendall(f"{conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)}\n".encode())
    else:
        time.sleep(float(words[1]))
        total = 0
        try:
            while True:
                part = conn.recv(1 << 16)
                if not part:
                    break
                total += len(part)
        except ConnectionResetError:
            print("hold", words[1], "reset", flush=True)
            conn.close()
            continue
        if len(words) > 2:
            print("hold", words[1], "received all", total == int(words[2]), flush=True)
        try:
            conn.sendall(b"eof\n")
        except OSError:
            pass  # the client closed without reading
    conn.close()
print("served", flush=True)
