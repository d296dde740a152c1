"""never_read.py - clients that send one expensive request each and never
read the answer (tests/security/sec_amplification.sh).

    python3 never_read.py PORT CLIENTS PATH BODY_FILE HOLD_S SERVER_PID [RELEASE_FILE]

Each client shrinks its receive buffer to 4 KiB before connecting (so the
kernel cannot absorb the answer and the server has to hold it), sends
POST PATH with the body, and reads nothing. The server's RSS is sampled
every 50 ms for HOLD_S seconds, or, given RELEASE_FILE, until that file
exists (HOLD_S is then only the upper bound: a test that has made its checks
releases the clients, so a server slowed by sanitizers or a loaded machine
still fills its budget before anything is checked); then the clients close.
Prints
    RESULT never_read clients=N rss_before_kb=A rss_max_kb=B rss_growth_kb=C
Loopback only.
"""
import os
import socket
import sys
import time

port, n, path, body_file, hold, pid = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4],
                                       float(sys.argv[5]), int(sys.argv[6]))
release = sys.argv[7] if len(sys.argv) > 7 else None
body = open(body_file, "rb").read()
req = (b"POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
       b"Content-Length: %d\r\n\r\n" % (path.encode(), len(body))) + body


def rss_kb():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


before = rss_kb()
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(req)
    socks.append(s)
peak = before
t_end = time.time() + hold
while time.time() < t_end and not (release and os.path.exists(release)):
    peak = max(peak, rss_kb())
    time.sleep(0.05)
for s in socks:
    s.close()
print("RESULT never_read clients=%d rss_before_kb=%d rss_max_kb=%d rss_growth_kb=%d"
      % (n, before, peak, peak - before))
