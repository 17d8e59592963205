#!/usr/bin/env python3
"""TCP echo programs for preload_apps_tcp.sh (plain python3 sockets).

  tcp_apps.py server ADDR PORT COUNT        accept COUNT connections one by one:
                                            read to EOF, send it all back, close
  tcp_apps.py prefork ADDR PORT WORKERS     listen, then fork WORKERS processes
                                            that accept and echo as `server` does
                                            (the parent never accepts), until none
                                            of them got a connection for 3 s
  tcp_apps.py client ADDR PORT SIZE [blocking|nonblocking|epoll]
                                            send SIZE pattern bytes, half-close,
                                            read the echo to EOF, compare;
                                            `nonblocking`/`epoll`: connect, send
                                            and recv through a poll/epoll selector
Prints "listening" once the server listens and "OK ..." per good exchange;
exits non-zero on any mismatch or error.
"""
import hashlib
import selectors
import socket
import struct
import sys

RETRANS = {}


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def pattern(size):
    block = hashlib.sha256(str(size).encode()).digest() * 64
    return (block * (size // len(block) + 1))[:size]


def note_retransmissions(sock):
    """tcpi_total_retrans of struct tcp_info (offset 100), for the report."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    RETRANS["total"] = struct.unpack_from("I", info, 100)[0] if len(info) >= 104 else -1


def read_to_end(sock):
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def server(addr, port, count):
    listener = socket.socket(family_of(addr), socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((addr, port))
    listener.listen(8)
    print("listening", flush=True)
    for _ in range(count):
        conn, peer = listener.accept()
        data = read_to_end(conn)
        conn.sendall(data)
        conn.close()
        print("OK served %d bytes to %s" % (len(data), peer[0]), flush=True)
    listener.close()


def prefork(addr, port, workers):
    """A pre-forking server (nginx's master and workers): the listener is
    made before fork() and only the children accept."""
    import os
    listener = socket.socket(family_of(addr), socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((addr, port))
    listener.listen(64)
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            listener.settimeout(3)
            served = 0
            try:
                while True:
                    conn, _ = listener.accept()
                    conn.settimeout(None)
                    conn.sendall(read_to_end(conn))
                    conn.close()
                    served += 1
            except socket.timeout:
                pass
            print("worker %d served %d" % (os.getpid(), served), flush=True)
            os._exit(0)
        children.append(pid)
    print("listening", flush=True)
    failed = 0
    for pid in children:
        _, status = os.waitpid(pid, 0)
        failed += status != 0
    sys.exit(1 if failed else 0)


def client_blocking(addr, port, payload):
    sock = socket.create_connection((addr, port), timeout=20)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    peer = sock.getpeername()
    assert peer[1] == port, "getpeername gave %r" % (peer,)
    sock.sendall(payload)
    sock.shutdown(socket.SHUT_WR)
    echo = read_to_end(sock)
    note_retransmissions(sock)
    sock.close()
    return echo


def client_nonblocking(addr, port, payload, use_epoll=False):
    sock = socket.socket(family_of(addr), socket.SOCK_STREAM)
    sock.setblocking(False)
    err = sock.connect_ex((addr, port))
    assert err in (0, 115), "connect_ex gave %d" % err  # EINPROGRESS
    # connect again while it runs: EALREADY, or EISCONN once it is done.
    again = sock.connect_ex((addr, port))
    assert again in (114, 106), "a second connect_ex gave %d" % again
    sel = selectors.EpollSelector() if use_epoll else selectors.PollSelector()
    sel.register(sock, selectors.EVENT_WRITE)
    if not sel.select(timeout=20):
        raise RuntimeError("connect did not complete")
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    assert err == 0, "SO_ERROR %d" % err
    sent = 0
    echo = []
    sel.modify(sock, selectors.EVENT_WRITE | selectors.EVENT_READ)
    done_sending = len(payload) == 0
    if done_sending:
        sock.shutdown(socket.SHUT_WR)
        sel.modify(sock, selectors.EVENT_READ)
    while True:
        events = sel.select(timeout=20)
        if not events:
            raise RuntimeError("stalled after %d sent" % sent)
        for _, mask in events:
            if mask & selectors.EVENT_WRITE and not done_sending:
                try:
                    sent += sock.send(payload[sent:sent + 262144])
                except BlockingIOError:
                    pass
                if sent == len(payload):
                    done_sending = True
                    sock.shutdown(socket.SHUT_WR)
                    sel.modify(sock, selectors.EVENT_READ)
            if mask & selectors.EVENT_READ:
                try:
                    chunk = sock.recv(65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.close()
                    note_retransmissions(sock)
                    sock.close()
                    return b"".join(echo)
                echo.append(chunk)


def main():
    mode = sys.argv[1]
    addr, port = sys.argv[2], int(sys.argv[3])
    if mode == "server":
        server(addr, port, int(sys.argv[4]))
        return
    if mode == "prefork":
        prefork(addr, port, int(sys.argv[4]))
        return
    size = int(sys.argv[4])
    mode = sys.argv[5] if len(sys.argv) > 5 else "blocking"
    nonblocking = mode != "blocking"
    payload = pattern(size)
    if nonblocking:
        echo = client_nonblocking(addr, port, payload, use_epoll=(mode == "epoll"))
    else:
        echo = client_blocking(addr, port, payload)
    if echo != payload:
        print("MISMATCH: sent %d bytes, got %d back" % (len(payload), len(echo)))
        sys.exit(1)
    print("OK %d bytes echoed (%s) retrans=%d" % (size, mode,
                                                  RETRANS.get("total", -1)))


if __name__ == "__main__":
    main()
