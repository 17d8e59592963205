#!/usr/bin/env python3
"""memcached round trip check: stores values of 1 B to 1 MB over one
connection, reads them all back in one multi-get, then does the same over six
concurrent connections; exits non-zero on any difference.

  memcache_check.py HOST PORT
"""
import os, random, socket, sys, threading
random.seed(7)


def read_until(c, buf, end):
    while end not in buf:
        d = c.recv(1 << 20)
        if not d:
            raise EOFError("connection closed")
        buf += d
    i = buf.index(end) + len(end)
    return buf[:i], buf[i:]


def read_n(c, buf, n):
    while len(buf) < n:
        d = c.recv(1 << 20)
        if not d:
            raise EOFError("connection closed")
        buf += d
    return buf[:n], buf[n:]


def session(tag, sizes):
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
    values = {f"{tag}-{i}": os.urandom(n) for i, n in enumerate(sizes)}
    buf = b""
    for k, v in values.items():
        c.sendall(b"set %s 0 0 %d\r\n%s\r\n" % (k.encode(), len(v), v))
        line, buf = read_until(c, buf, b"\r\n")
        assert line == b"STORED\r\n", line
    # All back in one multi-get.
    c.sendall(b"get " + b" ".join(k.encode() for k in values) + b"\r\n")
    got = {}
    while True:
        line, buf = read_until(c, buf, b"\r\n")
        if line == b"END\r\n":
            break
        _, key, _, n = line.split()
        data, buf = read_n(c, buf, int(n) + 2)
        got[key.decode()] = data[:-2]
    assert got == values, (tag, len(got), len(values))
    c.close()



def main():
    sizes = [1, 2, 100, 1000, 4096, 65536, 100000, 1000000]
    sizes += [random.randint(1, 300000) for _ in range(40)]
    session("one", sizes)
    errors = []

    def run(tag):
        try:
            session(tag, sizes[:20])
        except Exception as e:  # the main thread reports it
            errors.append(f"{tag}: {e!r}")

    threads = [threading.Thread(target=run, args=(f"t{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


if __name__ == "__main__":
    main()
