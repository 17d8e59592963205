#!/usr/bin/env python3
"""TCP options whose effect shows on the wire or in time: TCP_MAXSEG,
TCP_NOTSENT_LOWAT (with SIOCOUTQNSD), SO_LINGER with a timeout and with
none (set before connect: close resets); with `exit`, a process that exits
right after closing a connection whose bytes are still in flight; with
`victim` and `watch`, a server killed by a signal's default action while
its client waits in recv().

The client side of preload_tcp_options.sh: it talks to tcp_options_server.py
(a kernel program) and prints a transcript that holds no timing or window
figure, only what Linux guarantees, so that a run under libxlane.so (the
connections on xlane's TCP) must print exactly what a kernel run prints.

  tcp_options_client.py SERVER_ADDR PORT [exit|quit]
  tcp_options_client.py ADDR PORT victim
  tcp_options_client.py VICTIM_ADDR PORT watch PID SIGNAL idle|unread
"""
import errno, fcntl, os, select, signal, socket, struct, sys, time

T, S = socket.IPPROTO_TCP, socket.SOL_SOCKET
SIOCOUTQNSD = 0x894B
LOWAT = 16384
HELD = 100_000  # bytes each linger case leaves in flight at close()


def say(*words):
    print(*words, flush=True)


def connect(setup=None):
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if setup:
        setup(c)
    c.connect((sys.argv[1], int(sys.argv[2])))
    return c


def line(c):
    got = b""
    while not got.endswith(b"\n"):
        part = c.recv(100)
        if not part:
            break
        got += part
    return got.decode().strip()


def notsent(c):
    return struct.unpack("i", fcntl.ioctl(c.fileno(), SIOCOUTQNSD, struct.pack("i", 0)))[0]


def maxseg_cases():
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    say("maxseg fresh", c.getsockopt(T, socket.TCP_MAXSEG))
    try:
        c.setsockopt(T, socket.TCP_MAXSEG, 50)  # below Linux's TCP_MIN_MSS (88)
        say("maxseg 50 accepted")
    except OSError as e:
        say("maxseg 50", errno.errorcode[e.errno])
    c.close()
    for wanted in (None, 1000):
        setup = (lambda s: s.setsockopt(T, socket.TCP_MAXSEG, wanted)) if wanted else None
        c = connect(setup)
        # Ours after the handshake (timestamps excluded), and the server's:
        # the MSS our SYN announced bounds what it may send.
        say("maxseg set", wanted, "connected", c.getsockopt(T, socket.TCP_MAXSEG))
        c.sendall(b"mss\n")
        say("maxseg set", wanted, "server", line(c))
        c.close()


def syn_sent_maxseg_cases():
    """TCP_MAXSEG of a connection still in SYN-SENT: Linux's mss_cache from
    the route (a TCP_MAXSEG set before bounds it), timestamps excluded."""
    addr, port = sys.argv[1], int(sys.argv[2]) + 1
    first = socket.create_connection((addr, port))  # the server's never-accepting listener is full now
    for wanted in (None, 1000):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if wanted:
            c.setsockopt(T, socket.TCP_MAXSEG, wanted)
        c.setblocking(False)
        result = errno.errorcode.get(c.connect_ex((addr, port)), "connected")
        say("maxseg set", wanted, "connect", result, "syn-sent", c.getsockopt(T, socket.TCP_MAXSEG))
        # TCP_INFO's tcpi_snd_mss, tcpi_rcv_mss (offsets 16, 20) and tcpi_advmss (84).
        info = c.getsockopt(T, socket.TCP_INFO, 104)
        say("maxseg set", wanted, "syn-sent tcp_info snd_mss rcv_mss advmss",
            *struct.unpack_from("II", info, 16), struct.unpack_from("I", info, 84)[0])
        c.close()
    first.close()


def lowat_case():
    # A send buffer far above the mark, so that only the mark stops send().
    c = connect(lambda s: s.setsockopt(S, socket.SO_SNDBUF, 1 << 20))
    c.setsockopt(T, socket.TCP_NOTSENT_LOWAT, LOWAT)
    say("lowat reads", c.getsockopt(T, socket.TCP_NOTSENT_LOWAT))
    c.sendall(b"hold 2.0\n")  # the server reads nothing for two seconds
    c.setblocking(False)
    chunk = b"l" * 4096
    total = 0

    def fill():
        nonlocal total
        accepted = False
        while total < 8 << 20:
            try:
                total += c.send(chunk)
                accepted = True
            except BlockingIOError:
                return accepted

    # Until the window has closed: an ACK still on its way lets more bytes
    # leave, and then send() takes more again.
    fill()
    for _ in range(10):
        time.sleep(0.1)
        if not fill():
            break
    left = notsent(c)
    # Linux stops taking bytes once the unsent ones reach the mark (a whole
    # segment may go beyond it): far before the send buffer is full.
    say("lowat stopped at the mark", LOWAT <= left < LOWAT + 65536, "before 8 MB", total < 8 << 20)
    p = select.poll()
    p.register(c, select.POLLOUT)
    say("lowat writable at the mark", bool(p.poll(0)))
    ready = p.poll(10000)  # the server drains: writable again
    say("lowat writable after the drain", bool(ready), "below half the mark", notsent(c) * 2 < LOWAT)
    c.setblocking(True)
    c.sendall(b"\n")
    c.shutdown(socket.SHUT_WR)
    say("lowat server", line(c))
    c.close()


def linger_case(name, linger, hold, low, high, signal_after=None):
    def setup(s):
        s.setsockopt(S, socket.SO_SNDBUF, 1 << 20)  # HELD fits without blocking
        if linger is not None:
            s.setsockopt(S, socket.SO_LINGER, struct.pack("ii", 1, linger))
    c = connect(setup)
    c.sendall(f"hold {hold} {HELD}\n".encode())
    c.sendall(b"x" * HELD)
    if signal_after:  # a signal ends Linux's linger wait
        signal.signal(signal.SIGALRM, lambda *_: None)
        signal.setitimer(signal.ITIMER_REAL, signal_after)
    start = time.monotonic()
    c.close()
    waited = time.monotonic() - start
    say(name, "close returned within", f"[{low}, {high}) s:", low <= waited < high)


def exit_case():
    # Closed with bytes in flight and exits at once, while the server reads
    # nothing for longer than xlane would wait at exit: Linux delivers them
    # (and the FIN) after the process is gone; the server says whether all came.
    exit_held = 512 * 1024  # more than a fresh kernel socket's buffer takes
    # SO_SNDBUFFORCE (root): beyond net.core.wmem_max, so that send() returns.
    c = connect(lambda s: s.setsockopt(S, 32, 4 << 20))  # SO_SNDBUFFORCE
    c.sendall(f"hold 4.0 {exit_held}\n".encode())
    c.sendall(b"x" * exit_held)
    c.close()
    say("exit with bytes in flight")


def server_idle():
    """Returns once the server has finished with every earlier connection (it
    serves one at a time), so that the next case's hold starts at once."""
    c = connect()
    c.sendall(b"mss\n")
    line(c)
    c.close()


def victim():
    """A server that a signal terminates (default action; SIGUSR1: its
    handler calls _exit) while its client waits; with `unread`, bytes the
    client sent are still unread then."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(S, socket.SO_REUSEADDR, 1)
    listener.bind((sys.argv[1], int(sys.argv[2])))
    listener.listen(1)
    say("ready")
    conn, _ = listener.accept()
    # Whatever stands in for SIG_DFL under libxlane.so must read as SIG_DFL,
    # and setting SIG_DFL (sigaction for SIGTERM, signal() for SIGHUP) must
    # leave the default action as it is: the watcher compares what it gets.
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.signal.restype = ctypes.c_void_p
    libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]

    def named(handler):
        return {None: "default", 0: "default", 1: "ignored"}.get(handler, "a handler")

    def query(sig):
        old = ctypes.create_string_buffer(256)  # struct sigaction is 152 bytes
        assert libc.sigaction(sig, None, old) == 0
        return named(ctypes.c_void_p.from_buffer(old).value)

    seen = [query(signal.SIGTERM), query(signal.SIGHUP)]
    default, old = ctypes.create_string_buffer(256), ctypes.create_string_buffer(256)
    assert libc.sigaction(signal.SIGTERM, default, old) == 0
    seen.append(named(ctypes.c_void_p.from_buffer(old).value))
    seen.append(named(libc.signal(signal.SIGHUP, None)))
    # What signal() is in a C program built with -std=c11 or _POSIX_C_SOURCE.
    sysv_signal = getattr(libc, "__sysv_signal")
    sysv_signal.restype = ctypes.c_void_p
    sysv_signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
    seen.append(named(sysv_signal(signal.SIGTERM, None)))
    conn.sendall(("SIGTERM %s, SIGHUP %s; set to SIG_DFL, they were %s and %s, then %s\n"
                  % tuple(seen)).encode())
    # SIGUSR1 stands for a program that ends with _exit() (no exit handler).
    signal.signal(signal.SIGUSR1, lambda *_: os._exit(3))
    time.sleep(60)  # the signal comes first


def watch():
    """The victim's client: once the victim is told to die (SIGNAL to PID),
    what does a blocked recv() get?"""
    pid, name, unread = int(sys.argv[4]), sys.argv[5], sys.argv[6] == "unread"
    c = connect()
    c.settimeout(5)
    say("the victim's dispositions:", line(c))
    if unread:
        c.sendall(b"never read")
    time.sleep(0.2)
    os.kill(pid, getattr(signal, name))
    try:
        say(name, "unread" if unread else "idle", "recv after the signal:", c.recv(10))
    except OSError as e:
        say(name, "unread" if unread else "idle", "recv after the signal:", type(e).__name__)


def main():
    if sys.argv[3:] == ["exit"]:
        return exit_case()
    if sys.argv[3:4] == ["victim"]:
        return victim()
    if sys.argv[3:4] == ["watch"]:
        return watch()
    if sys.argv[3:] == ["quit"]:
        return connect().sendall(b"quit\n")
    maxseg_cases()
    syn_sent_maxseg_cases()
    lowat_case()
    # The server starts reading after `hold` seconds.
    linger_case("linger 5 s, server reads after 1.5 s:", 5, 1.5, 1.0, 4.5)
    server_idle()
    linger_case("linger 1 s, server reads after 2 s:", 1, 2.0, 0.8, 1.9)
    linger_case("no linger, server reads after 1 s:", None, 1.0, 0.0, 0.3)
    linger_case("linger 10 s, a signal after 0.3 s, server reads later:", 10, 2.0, 0.2, 1.5,
                signal_after=0.3)
    server_idle()
    # A negative timeout is no limit at all (not a reset).
    linger_case("linger -1, server reads after 1.5 s:", -1, 1.5, 1.0, 4.5)
    server_idle()
    # SO_LINGER {1, 0} set before connect: close() resets (the server says so).
    linger_case("linger 0, server reads after 0.2 s:", 0, 0.2, 0.0, 0.3)
    # The server's answer here means it has all the bytes above (at exit,
    # xlane waits only so long for connections closed with data in flight).
    server_idle()
    say("done")


main()
