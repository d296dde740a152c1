"""burst.py - open many TCP connections to a server at once, hold them, close
them, then ask GET /healthz until it answers (tests/security/sec_burst.sh).

    python3 burst.py PORT N HOLD_S HEALTH_DEADLINE_S

Connections are opened with non-blocking connect() in one tight loop (a few
thousand within tens of milliseconds on loopback), never send a byte, and are
held HOLD_S seconds. After they are closed, /healthz is asked every 100 ms
(each attempt with a 0.5 s timeout) until it answers 200 or HEALTH_DEADLINE_S
have passed. Prints
    RESULT burst opened=N connect_errors=E healthz=200|none healthz_after_s=S
and exits 0 if /healthz answered within the deadline, 1 otherwise.
Loopback only.
"""
import errno
import socket
import sys
import time

port, n, hold, deadline = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
socks, errors = [], 0
t0 = time.time()
for _ in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    rc = s.connect_ex(("127.0.0.1", port))
    if rc not in (0, errno.EINPROGRESS):
        errors += 1
        s.close()
        continue
    socks.append(s)
opened_s = time.time() - t0
time.sleep(hold)
for s in socks:
    try:
        s.close()
    except OSError:
        pass
closed_at = time.time()


def healthz():
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=0.5)
        c.settimeout(0.5)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
        c.close()
        return data.split(b" ")[1].decode() if data.startswith(b"HTTP/1.") else None
    except (OSError, IndexError):
        return None


status = None
while time.time() - closed_at < deadline:
    status = healthz()
    if status == "200":
        break
    time.sleep(0.1)
after = time.time() - closed_at
print("RESULT burst opened=%d open_seconds=%.3f connect_errors=%d healthz=%s healthz_after_s=%.2f"
      % (len(socks), opened_s, errors, status or "none", after))
sys.exit(0 if status == "200" else 1)
