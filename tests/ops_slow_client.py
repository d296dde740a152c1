"""ops_slow_client.py - one request whose body is sent slowly, for the drain test.

    python3 ops_slow_client.py PORT TRIGGER_FILE DELAY_S PIECES PIECE_GAP_S PATH BODY

Waits until TRIGGER_FILE exists (the test creates it when it sends SIGTERM;
the client is already running then, so a slow interpreter start on a busy
machine cannot shift its timing), then DELAY_S more, connects, sends the
headers, then BODY in PIECES pieces PIECE_GAP_S apart, and prints
"status=<code> close=<0|1> connect_t=<s> done_t=<s>" (seconds since the
trigger) or "error=<reason>". Used to keep a request in flight across the
moment the server closes its listener.
"""
import os
import socket
import sys
import time

port, trigger, delay, pieces, gap, path, body = (int(sys.argv[1]), sys.argv[2], float(sys.argv[3]),
                                                 int(sys.argv[4]), float(sys.argv[5]), sys.argv[6],
                                                 sys.argv[7].encode())
limit = time.time() + 60
while not os.path.exists(trigger):
    if time.time() > limit:
        print("error=no-trigger")
        sys.exit(0)
    time.sleep(0.01)
t0 = time.time()
time.sleep(delay)
try:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    tc = time.time() - t0
    s.sendall(b"POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % (path.encode(), len(body)))
    step = (len(body) + pieces - 1) // pieces
    for i in range(0, len(body), step):
        s.sendall(body[i:i + step])
        if i + step < len(body):
            time.sleep(gap)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head = data.split(b"\r\n\r\n")[0].decode("latin-1")
    if not head.startswith("HTTP/1."):
        print("error=no-response")
        sys.exit(0)
    code = head.split()[1]
    close = int("connection: close" in head.lower())
    print("status=%s close=%d connect_t=%.2f done_t=%.2f" % (code, close, tc, time.time() - t0))
except OSError as e:
    print("error=%s" % e.__class__.__name__)
