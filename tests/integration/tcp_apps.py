#!/usr/bin/env python3
"""TCP echo programs for preload_apps_tcp.sh (plain python3 sockets).

  tcp_apps.py server ADDR PORT COUNT        accept COUNT connections one by one:
                                            read to EOF, send it all back, close
  tcp_apps.py prefork ADDR PORT WORKERS     listen, then fork WORKERS processes
                                            that accept and echo as `server` does
                                            (the parent never accepts), until none
                                            of them got a connection for 3 s
  tcp_apps.py forking ADDR PORT COUNT share|keep
                                            accept COUNT connections one by one;
                                            each: read an 8-byte length and send it
                                            back, fork(), then `share`: the child
                                            echoes that many bytes and waits for
                                            the client's close (the parent closes
                                            its copy); `keep`: the child exits at
                                            once and the parent does it
  tcp_apps.py sized ADDR PORT SIZE          the client of `forking`: the length,
                                            SIZE pattern bytes, then the whole echo
                                            read back before it closes
  tcp_apps.py drip ADDR PORT ROUNDS          accept one connection; per round, read
                                            one byte, answer one digit; then wait
                                            for the client's close
  tcp_apps.py edge ADDR PORT ROUNDS         drip's client under edge-triggered
                                            epoll: every answer must raise a new
                                            EPOLLIN event although nothing is read
                                            in between, and no event may come
                                            without new data
  tcp_apps.py levels ADDR PORT ROUNDS       drip's client under level-triggered
                                            epoll (EPOLLIN) while poll() asks the
                                            same socket for POLLOUT in between:
                                            the epoll wait still wakes for data,
                                            and sleeps (no CPU) while none comes
  tcp_apps.py sendfile ADDR PORT SIZE       accept one connection and send it a
                                            file of SIZE pattern bytes with libc's
                                            sendfile(): a third with an offset (the
                                            file position must not move), a third
                                            from the file position (which must move
                                            past it), the rest on the socket made
                                            non-blocking (short counts and EAGAIN
                                            waited out with select); then close
  tcp_apps.py fetch ADDR PORT SIZE          sendfile's client: read to EOF, compare
  tcp_apps.py splice ADDR PORT SIZE         accept one connection and echo its SIZE
                                            bytes back through a pipe with splice()
                                            both ways: the first half blocking, the
                                            rest through a 4 KiB pipe with the
                                            socket non-blocking and
                                            SPLICE_F_NONBLOCK | SPLICE_F_MORE (short
                                            counts and EAGAIN waited out with
                                            select; an empty pipe and a full one
                                            must give EAGAIN); the client is `client ...
                                            nonblocking`, which reads as it sends
  tcp_apps.py hold ADDR PORT BACKLOG        listen with that backlog and never
                                            accept (the kernel completes the
                                            handshakes); runs until killed
  tcp_apps.py fds ADDR PORT COUNT           open COUNT connections to `hold` and
                                            print the highest descriptor number
                                            they got
  tcp_apps.py client ADDR PORT SIZE [blocking|nonblocking|epoll]
                                            send SIZE pattern bytes, half-close,
                                            read the echo to EOF, compare;
                                            `nonblocking`/`epoll`: connect, send
                                            and recv through a poll/epoll selector
Prints "listening" once the server listens and "OK ..." per good exchange;
exits non-zero on any mismatch or error.
"""
import ctypes
import fcntl
import hashlib
import os
import selectors
import tempfile
import socket
import struct
import sys
import time

RETRANS = {}


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def listen_on(addr, port, backlog, announce=True):
    """A listening socket on (addr, port); prints "listening" (the scripts
    wait for it) unless `announce` is False."""
    listener = socket.socket(family_of(addr), socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((addr, port))
    listener.listen(backlog)
    if announce:
        print("listening", flush=True)
    return listener


def pattern(size):
    block = hashlib.sha256(str(size).encode()).digest() * 64
    return (block * (size // len(block) + 1))[:size]


def note_retransmissions(sock):
    """tcpi_total_retrans of struct tcp_info (offset 100), for the report."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    RETRANS["total"] = struct.unpack_from("I", info, 100)[0] if len(info) >= 104 else -1


def read_exactly(sock, size):
    chunks, got = [], 0
    while got < size:
        chunk = sock.recv(min(65536, size - got))
        if not chunk:
            raise RuntimeError("end of stream after %d of %d bytes" % (got, size))
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def sized(addr, port, size):
    payload = pattern(size)
    sock = socket.create_connection((addr, port), timeout=20)
    sock.sendall(struct.pack("!Q", size) + payload)
    echo = read_exactly(sock, 8 + size)
    sock.close()
    if echo != struct.pack("!Q", size) + payload:
        raise RuntimeError("the echo of %d bytes differs" % size)
    print("OK %d bytes echoed (sized)" % size)


def read_to_end(sock):
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def server(addr, port, count):
    listener = listen_on(addr, port, 8)
    for _ in range(count):
        conn, peer = listener.accept()
        data = read_to_end(conn)
        conn.sendall(data)
        conn.close()
        print("OK served %d bytes to %s" % (len(data), peer[0]), flush=True)
    listener.close()


def forking(addr, port, count, who):
    """A server that forks per connection (socketserver.ForkingTCPServer):
    the connection is established, with data both ways, before fork()."""
    import os
    listener = listen_on(addr, port, 8)
    def serve(conn, size):
        conn.sendall(read_exactly(conn, size))
        if conn.recv(1) != b"":
            raise RuntimeError("more than the announced bytes")
        conn.close()

    for _ in range(count):
        conn, peer = listener.accept()
        header = read_exactly(conn, 8)
        conn.sendall(header)
        size = struct.unpack("!Q", header)[0]
        # The client's bytes meanwhile fill the receive window: the hand-over
        # at fork() carries a whole window of unread bytes (262 KB for the
        # 3 MB transfer), twice a fresh kernel socket's receive buffer.
        time.sleep(0.3)
        pid = os.fork()
        if pid == 0:
            code = 0
            if who == "share":
                try:
                    serve(conn, size)
                except (OSError, RuntimeError) as error:
                    print("child: %s" % error, flush=True)
                    code = 1
            os._exit(code)
        if who == "share":
            conn.close()
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise RuntimeError("the child failed (status %d)" % status)
        if who == "keep":
            serve(conn, size)
        print("OK forked for %s (%s)" % (peer[0], who), flush=True)
    listener.close()


def drip(addr, port, rounds):
    listener = listen_on(addr, port, 1)
    conn, _ = listener.accept()
    for i in range(rounds):
        if conn.recv(1) != b"g":
            raise RuntimeError("round %d: no request" % i)
        conn.sendall(str(i % 10).encode())
    # The client closes first: no FIN of ours may raise an edge it counts.
    if conn.recv(1) != b"":
        raise RuntimeError("more than the requests")
    conn.close()
    listener.close()
    print("OK dripped %d bytes" % rounds, flush=True)


def edge(addr, port, rounds):
    """EPOLLET on a TCP socket: Linux raises an event for each segment that
    arrives, readable before or not (sk_data_ready wakes the watch)."""
    import select
    sock = socket.create_connection((addr, port), timeout=20)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ep = select.epoll()
    ep.register(sock.fileno(), select.EPOLLIN | select.EPOLLET)
    for i in range(rounds):
        sock.sendall(b"g")
        events = ep.poll(5)
        if len(events) != 1 or not events[0][1] & select.EPOLLIN:
            raise RuntimeError("round %d: %r instead of one EPOLLIN edge" % (i, events))
        # Nothing new: an edge-triggered watch stays quiet, however much
        # waits unread.
        extra = ep.poll(0.1)
        if extra:
            raise RuntimeError("round %d: %r without new data" % (i, extra))
    expected = "".join(str(i % 10) for i in range(rounds)).encode()
    got = b""
    while len(got) < len(expected):
        chunk = sock.recv(len(expected) - len(got))
        if not chunk:
            break
        got += chunk
    if got != expected:
        raise RuntimeError("read %r, expected %r" % (got, expected))
    ep.close()
    sock.close()
    print("OK %d edges for %d answers" % (rounds, rounds))


def levels(addr, port, rounds):
    """Two waiters of one socket with different interests: an epoll
    registration for EPOLLIN and, in between, poll() for POLLOUT."""
    import resource
    import select
    sock = socket.create_connection((addr, port), timeout=20)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ep = select.epoll()
    ep.register(sock.fileno(), select.EPOLLIN)

    def thread_cpu():
        usage = resource.getrusage(resource.RUSAGE_THREAD)
        return usage.ru_utime + usage.ru_stime

    for i in range(rounds):
        writable = select.poll()
        writable.register(sock.fileno(), select.POLLOUT)
        if not writable.poll(1000):
            raise RuntimeError("round %d: an idle connection is not writable" % i)
        # The socket is writable but has nothing to read: the wait sleeps
        # its whole time (a wait woken for POLLOUT would spin instead).
        before = thread_cpu()
        quiet = ep.poll(0.5)
        spent = thread_cpu() - before
        if quiet:
            raise RuntimeError("round %d: %r with nothing to read" % (i, quiet))
        if spent > 0.1:
            raise RuntimeError("round %d: the idle 0.5 s wait used %.2f s of CPU" % (i, spent))
        sock.sendall(b"g")
        events = ep.poll(5)
        if len(events) != 1 or not events[0][1] & select.EPOLLIN:
            raise RuntimeError("round %d: %r instead of EPOLLIN" % (i, events))
        if sock.recv(1) != str(i % 10).encode():
            raise RuntimeError("round %d: wrong answer" % i)
    ep.close()
    sock.close()
    print("OK %d rounds of EPOLLIN beside POLLOUT waits" % rounds)


def prefork(addr, port, workers):
    """A pre-forking server (nginx's master and workers): the listener is
    made before fork() and only the children accept."""
    import os
    listener = listen_on(addr, port, 64, announce=False)
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
    # connect again while it runs: EALREADY; once it is done, 0 (Linux's
    # answer to the first connect after the handshake completed), then EISCONN.
    again = sock.connect_ex((addr, port))
    assert again in (114, 0, 106), "a second connect_ex gave %d" % again
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


def libc_sendfile():
    """libc's sendfile() as the program calls it (the preloaded library's
    when there is one), so that a NULL offset can be passed."""
    libc = ctypes.CDLL(None, use_errno=True)
    call = libc.sendfile
    call.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_long), ctypes.c_size_t]
    call.restype = ctypes.c_ssize_t
    return call


def wait_until(sock, event, timeout=10):
    """True once sock is ready for event (selectors.EVENT_*) within timeout."""
    sel = selectors.DefaultSelector()
    sel.register(sock, event)
    ready = bool(sel.select(timeout))
    sel.close()
    return ready


def close_after_peer(conn, listener):
    """Half-close, read until the peer closes too, then close both sockets."""
    conn.setblocking(True)
    conn.shutdown(socket.SHUT_WR)
    read_to_end(conn)
    conn.close()
    listener.close()


def sendfile_server(addr, port, size):
    send = libc_sendfile()
    payload = pattern(size)
    with tempfile.TemporaryFile() as f:
        f.write(payload)
        f.flush()
        fd = f.fileno()
        listener = listen_on(addr, port, 1)
        conn, _ = listener.accept()
        third = size // 3
        # 1. With an offset: *offset advances, the file position stays.
        os.lseek(fd, 0, os.SEEK_SET)
        offset = ctypes.c_long(0)
        while offset.value < third:
            n = send(conn.fileno(), fd, ctypes.byref(offset), third - offset.value)
            if n <= 0:
                raise RuntimeError("sendfile with an offset: %d, errno %d" % (n, ctypes.get_errno()))
        if os.lseek(fd, 0, os.SEEK_CUR) != 0:
            raise RuntimeError("sendfile with an offset moved the file position")
        # 2. From the file position (NULL offset): the position moves.
        os.lseek(fd, third, os.SEEK_SET)
        sent = 0
        while sent < third:
            n = send(conn.fileno(), fd, None, third - sent)
            if n <= 0:
                raise RuntimeError("sendfile from the position: %d, errno %d" % (n, ctypes.get_errno()))
            sent += n
        if os.lseek(fd, 0, os.SEEK_CUR) != 2 * third:
            raise RuntimeError("sendfile from the position left it at %d, not %d"
                               % (os.lseek(fd, 0, os.SEEK_CUR), 2 * third))
        # 3. Non-blocking: short counts and EAGAIN until the socket drains.
        conn.setblocking(False)
        offset = ctypes.c_long(2 * third)
        waits = 0
        while offset.value < size:
            n = send(conn.fileno(), fd, ctypes.byref(offset), size - offset.value)
            if n < 0:
                if ctypes.get_errno() != 11:  # EAGAIN
                    raise RuntimeError("non-blocking sendfile: errno %d" % ctypes.get_errno())
                waits += 1
                wait_until(conn, selectors.EVENT_WRITE)
            elif n == 0:
                raise RuntimeError("non-blocking sendfile sent 0 before the end")
        close_after_peer(conn, listener)
    print("OK sent %d bytes by sendfile (%d waits for room)" % (size, waits), flush=True)


def splice_echo(addr, port, size):
    listener = listen_on(addr, port, 1)
    conn, _ = listener.accept()
    sock = conn.fileno()
    pipe_out, pipe_in = os.pipe()
    moved_in = moved_out = 0
    # 1. Blocking: each splice into the pipe is spliced back out whole.
    while moved_in < size // 2:
        n = os.splice(sock, pipe_in, size // 2 - moved_in)
        if n == 0:
            raise RuntimeError("splice from the socket: EOF after %d bytes" % moved_in)
        moved_in += n
        while n > 0:
            m = os.splice(pipe_out, sock, n)
            if m <= 0:
                raise RuntimeError("splice into the socket returned %d" % m)
            n -= m
            moved_out += m
    # 2. Non-blocking through a one-page pipe: both directions stop short.
    fcntl.fcntl(pipe_in, fcntl.F_SETPIPE_SZ, 4096)
    conn.setblocking(False)
    flags = os.SPLICE_F_NONBLOCK | os.SPLICE_F_MORE
    # An empty pipe has nothing to send (EAGAIN); a full one takes nothing
    # from the socket (EAGAIN, no byte consumed: the echo below counts them).
    for src, dst, what in ((pipe_out, sock, "from an empty pipe"), (sock, pipe_in, "into a full pipe")):
        if src == sock:
            os.write(pipe_in, b"\0" * 4096)
        try:
            os.splice(src, dst, 1000, flags=flags)
            raise RuntimeError("splice %s did not fail with EAGAIN" % what)
        except BlockingIOError:
            pass
    if os.read(pipe_out, 8192) != b"\0" * 4096:
        raise RuntimeError("the full pipe's bytes changed")
    queued, eof, waits = 0, False, 0
    while not eof or queued:
        progressed = False
        if not eof:
            try:
                n = os.splice(sock, pipe_in, 1 << 20, flags=flags)
                eof = n == 0
                queued += n
                moved_in += n
                progressed = True
            except BlockingIOError:
                pass
        if queued:
            try:
                m = os.splice(pipe_out, sock, queued, flags=flags)
                queued -= m
                moved_out += m
                progressed = progressed or m > 0
            except BlockingIOError:
                pass
        if not progressed:
            waits += 1
            # A full pipe drains only into the socket: wait for room there.
            if not wait_until(conn, selectors.EVENT_WRITE if queued else selectors.EVENT_READ):
                raise RuntimeError("splice echo stalled at %d in, %d out" % (moved_in, moved_out))
    if moved_in != size or moved_out != size:
        raise RuntimeError("spliced %d bytes in and %d out of %d" % (moved_in, moved_out, size))
    close_after_peer(conn, listener)
    print("OK echoed %d bytes by splice (%d waits)" % (size, waits), flush=True)


def hold(addr, port, backlog):
    listener = listen_on(addr, port, backlog)
    time.sleep(120)
    listener.close()


def descriptor_numbers(addr, port, count):
    socks = [socket.create_connection((addr, port), timeout=20) for _ in range(count)]
    highest = max(sock.fileno() for sock in socks)
    for sock in socks:
        sock.close()
    print("OK %d connections, highest descriptor %d" % (count, highest))


def fetch(addr, port, size):
    sock = socket.create_connection((addr, port), timeout=30)
    data = read_to_end(sock)
    sock.close()
    if data != pattern(size):
        raise RuntimeError("got %d bytes, expected %d, or they differ" % (len(data), size))
    print("OK %d bytes fetched" % size)


def main():
    mode = sys.argv[1]
    addr, port = sys.argv[2], int(sys.argv[3])
    number = int(sys.argv[4])
    by_mode = {
        "server": server, "prefork": prefork, "sized": sized, "drip": drip, "edge": edge,
        "levels": levels, "sendfile": sendfile_server, "fetch": fetch, "hold": hold,
        "fds": descriptor_numbers, "splice": splice_echo,
    }
    if mode == "forking":
        forking(addr, port, number, sys.argv[5])
        return
    if mode in by_mode:
        by_mode[mode](addr, port, number)
        return
    size = number  # the client: SIZE bytes echoed
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
