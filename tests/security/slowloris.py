"""slowloris.py - connections that never send a byte (tests/security/sec_slowloris.sh).

    python3 slowloris.py PORT idle N WAIT_S
        N connections from 127.0.0.1 that send nothing; waits up to WAIT_S for
        the server to close each. Prints
        RESULT idle opened=N closed=C last_close_s=S
    python3 slowloris.py PORT flood RATE SECONDS SRC_ADDR
        opens RATE connections a second from SRC_ADDR (another loopback
        address, e.g. 127.0.0.2) for SECONDS, none sending anything, while a
        normal client on 127.0.0.1 asks GET /v1/models every 100 ms on a new
        connection. Prints
        RESULT flood attacker_opened=A attacker_refused=R normal=N normal_200=K statuses=...
Loopback only.
"""
import collections
import select
import socket
import sys
import time

port, mode = int(sys.argv[1]), sys.argv[2]


def status_of(src=None):
    try:
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.settimeout(3)
        if src:
            c.bind((src, 0))
        c.connect(("127.0.0.1", port))
        c.sendall(b"GET /v1/models HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
        c.close()
        return data.split(b" ")[1].decode() if data.startswith(b"HTTP/1.") else "closed"
    except OSError as e:
        return type(e).__name__


if mode == "idle":
    n, wait = int(sys.argv[3]), float(sys.argv[4])
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    t0 = time.time()
    open_ = set(socks)
    last = 0.0
    while open_ and time.time() - t0 < wait:
        r, _, _ = select.select(list(open_), [], [], 0.1)
        for s in r:
            try:
                d = s.recv(4096)
            except OSError:
                d = b""
            if not d:
                open_.discard(s)
                last = time.time() - t0
    for s in socks:
        s.close()
    print("RESULT idle opened=%d closed=%d last_close_s=%.2f" % (n, n - len(open_), last))
elif mode == "flood":
    rate, secs, src = float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    held, opened, refused = [], 0, 0
    statuses = collections.Counter()
    t0 = time.time()
    next_open, next_normal = t0, t0 + 0.5
    while time.time() - t0 < secs:
        now = time.time()
        if now >= next_open:
            next_open += 1.0 / rate
            try:
                a = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                a.bind((src, 0))
                a.connect(("127.0.0.1", port))
                held.append(a)
                opened += 1
            except OSError:
                refused += 1
        if now >= next_normal:
            next_normal += 0.1
            statuses[status_of()] += 1
        time.sleep(0.002)
    for a in held:
        a.close()
    n = sum(statuses.values())
    print("RESULT flood attacker_opened=%d attacker_refused=%d normal=%d normal_200=%d statuses=%s"
          % (opened, refused, n, statuses["200"], dict(statuses)))
