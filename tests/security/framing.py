"""framing.py - raw requests with conflicting framing (tests/security/sec_requests.sh).

    python3 framing.py PORT MODEL

Sends, each on a fresh loopback connection:
  two_cl   POST with two Content-Length headers (20, then 5) and a second
           request hidden after the body (libmicrohttpd 0.9.75 took the
           first length and ran what followed as a second request);
  cl_te    POST with Content-Length and Transfer-Encoding: chunked (kept
           the connection open).
Prints one line per case: "CASE status=<first status> responses=<n>
closed=<0|1>" (closed: the server closed the connection within 3 s).
"""
import socket
import sys

port, model = int(sys.argv[1]), sys.argv[2]
path = "/v1/models/%s:recommend" % model
body = b'{"user":"1","k":1}'
head = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" % path.encode()
cases = {
    "two_cl": head + b"Content-Length: %d\r\nContent-Length: 5\r\n\r\n" % len(body) + body
              + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    "cl_te": head + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n" % len(body)
             + body + b"\r\n0\r\n\r\n",
}
for name, raw in cases.items():
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(3)
    s.sendall(raw)
    data, closed = b"", 0
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                closed = 1
                break
            data += chunk
    except socket.timeout:
        pass
    except ConnectionResetError:
        closed = 1
    s.close()
    status = data.split(b" ")[1].decode() if data.startswith(b"HTTP/1.") else "none"
    print("%s status=%s responses=%d closed=%d" % (name, status, data.count(b"HTTP/1.1 "), closed))
