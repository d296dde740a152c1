"""ops_hostile.py - the hostile input table for encore-server (tests/e2e_hostile.sh).

    python3 ops_hostile.py PORT MODEL READ_TIMEOUT_S

Each case sends raw bytes over a fresh loopback connection and names the
status it expects ("closed" = the server closes without an answer, as it
must for a client that never finishes its request). After every case
GET /healthz must still answer 200. Prints one line per case and a summary
line "RESULT hostile cases=N passed=M"; exit status 1 if any case failed.
"""
import json
import socket
import sys
import time

PORT, MODEL, READ_TIMEOUT = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
RECO = "/v1/models/%s:recommend" % MODEL


class Conn:
    """A socket plus the bytes read past the last response (pipelining)."""

    def __init__(self, sock):
        self.s, self.buf = sock, b""

    def recv(self, n):
        if self.buf:
            b, self.buf = self.buf, b""
            return b
        return self.s.recv(n)

    def settimeout(self, t):
        self.s.settimeout(t)


def read_response(c, deadline):
    """(status, headers, body) of one response, or ("closed", "", b"")."""
    if not isinstance(c, Conn):
        c = Conn(c)
    data = b""
    c.settimeout(max(0.1, deadline - time.time()))
    try:
        while b"\r\n\r\n" not in data:
            chunk = c.recv(65536)
            if not chunk:
                return "closed", "", data
            data += chunk
        head, rest = data.split(b"\r\n\r\n", 1)
        head = head.decode("latin-1")
        status = int(head.split()[1])
        length = 0
        for line in head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-length":
                length = int(v.strip())
        while len(rest) < length:
            chunk = c.recv(65536)
            if not chunk:
                break
            rest += chunk
        c.buf = rest[length:] + c.buf
        return status, head, rest[:length]
    except socket.timeout:
        return "timeout", "", data
    except ConnectionResetError:
        return "reset", "", data


def raw(payload, timeout=10.0, chunks=None, gap=0.0, responses=1):
    """Send payload (or chunks with gaps) and read `responses` answers."""
    s = socket.create_connection(("127.0.0.1", PORT), timeout=timeout)
    deadline = time.time() + timeout
    try:
        for c in (chunks if chunks is not None else [payload]):
            s.sendall(c)
            if gap:
                time.sleep(gap)
    except (BrokenPipeError, ConnectionResetError):
        pass   # the server answered early and closed; read what it said
    out = []
    conn = Conn(s)
    for _ in range(responses):
        st, head, body = read_response(conn, deadline)
        out.append((st, head, body))
        if not isinstance(st, int):
            break
    s.close()
    return out


def post(path, body, ctype="application/json", extra=""):
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    hdr = ("POST %s HTTP/1.1\r\nHost: localhost\r\n%sContent-Length: %d\r\n%s\r\n"
           % (path, ("Content-Type: %s\r\n" % ctype) if ctype else "", len(body), extra))
    return hdr.encode() + body


def get(path, method="GET", version="HTTP/1.1"):
    return ("%s %s %s\r\nHost: localhost\r\n\r\n" % (method, path, version)).encode()


def reco(body, **kw):
    return post(RECO, body, **kw)


BIG = 10 * 1024 * 1024
cases = [
    # name, request bytes or callable, expected status(es)
    ("healthz", get("/healthz"), 200),
    ("readyz", get("/readyz"), 200),
    ("metrics", get("/metrics"), 200),
    ("valid recommend", reco('{"user":"u1","k":5}'), 200),
    ("user id as an integer", reco('{"user":1,"k":5}'), 200),
    ("truncated JSON", reco('{"user":"u1","k":'), 400),
    ("truncated string", reco('{"user":"u1'), 400),
    ("empty body", reco(""), 400),
    ("body is an array", reco("[1,2,3]"), 400),
    ("body is null", reco("null"), 400),
    ("1,000-level nesting", reco('{"user":"u1","x":' + "[" * 1000 + "]" * 1000 + "}"), 400),
    ("100,000-level nesting, unbalanced", reco("[" * 100000), 400),
    ("10 MB body (Content-Length)", reco('{"user":"' + "a" * BIG + '"}'), 413),
    ("huge number 1e400", reco('{"user":"u1","k":1e400}'), 400),
    ("integer overflow k", reco('{"user":"u1","k":123456789012345678901234567890}'), 400),
    ("NaN literal", reco('{"user":"u1","k":NaN}'), 400),
    ("Infinity literal", reco('{"user":"u1","k":Infinity}'), 400),
    ("invalid UTF-8 in a string", reco(b'{"user":"u\xff\xfe1","k":5}'), 400),
    ("overlong UTF-8 encoding", reco(b'{"user":"\xc0\xaf","k":5}'), 400),
    ("lone surrogate escape", reco('{"user":"\\ud800","k":5}'), 400),
    ("NUL escape in a string", reco('{"user":"u\\u00001","k":5}'), 400),
    ("user is an object", reco('{"user":{"id":1},"k":5}'), 400),
    ("k is a string", reco('{"user":"u1","k":"5"}'), 400),
    ("k is a float", reco('{"user":"u1","k":1.5}'), 400),
    ("negative k", reco('{"user":"u1","k":-5}'), 400),
    ("k = 0", reco('{"user":"u1","k":0}'), 400),
    ("huge k", reco('{"user":"u1","k":1000000000}'), 400),
    ("duplicate keys", reco('{"user":"u1","user":"u2","k":5}'), 400),
    ("unknown field", reco('{"user":"u1","kk":5}'), 400),
    ("missing user", reco('{"k":5}'), 400),
    ("history too long", reco('{"history":[' + ",".join('"i%d"' % i for i in range(20000)) + "]}"), 400),
    ("wrong content type", reco('{"user":"u1"}', ctype="text/plain"), 415),
    ("form content type", reco("user=u1", ctype="application/x-www-form-urlencoded"), 415),
    ("no content type (read as JSON)", reco('{"user":"u1","k":2}', ctype=None), 200),
    ("UTF-8 BOM before JSON", reco(b'\xef\xbb\xbf{"user":"u1"}'), 400),
    ("unknown model", post("/v1/models/nosuchmodel:recommend", '{"user":"u1"}'), 404),
    ("path traversal ../", reco('{"user":"u1"}').replace(RECO.encode(),
                                                         b"/v1/models/../../etc/passwd:recommend"), 404),
    ("path traversal %2e%2e%2f", post("/v1/models/%2e%2e%2f%2e%2e%2fetc:recommend", '{"user":"u1"}'), 404),
    ("model name of 300 chars", post("/v1/models/" + "a" * 300 + ":recommend", '{"user":"u1"}'), 404),
    ("reload with traversal name (admin off)", post("/v1/models/..:reload", ""), 403),
    ("unknown method BREW", get(RECO, method="BREW"), 405),
    ("DELETE a model", get("/v1/models/" + MODEL, method="DELETE"), 405),
    ("GET on a POST route", get(RECO), 405),
    ("unknown path", get("/v1/nothing/here"), 404),
    ("HTTP/1.0 request", get("/healthz", version="HTTP/1.0"), 200),
    ("HTTP/1.1 without Host", b"GET /healthz HTTP/1.1\r\n\r\n", 400),
    ("HTTP/2.0 version string", get("/healthz", version="HTTP/2.0"), (400, 505, "closed")),
    ("garbage request line", b"HELLO THERE\r\n\r\n", (400, "closed")),
    ("binary garbage", bytes(range(256)) * 4, (400, "closed")),
    ("header of 64 KiB", ("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n" % ("a" * 65536)).encode(),
     (431, 413, 400, "closed", "reset")),
    ("URL of 100 KiB", ("GET /%s HTTP/1.1\r\nHost: x\r\n\r\n" % ("a" * 102400)).encode(),
     (414, 431, 400, "closed", "reset")),
    ("Content-Length larger than the body", reco('{"user":"u1"}').replace(b"Content-Length: 13",
                                                                         b"Content-Length: 99"),
     "closed"),
    ("negative Content-Length", reco('{"user":"u1"}').replace(b"Content-Length: 13",
                                                             b"Content-Length: -1"), (400, "closed")),
    ("bad chunked encoding", ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              "Transfer-Encoding: chunked\r\n\r\nZZZ\r\nabc\r\n0\r\n\r\n" % RECO).encode(),
     (400, "closed")),
    ("valid chunked body", ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n8\r\n{\"user\":\r\n6\r\n\"u1\"}\r\n0\r\n\r\n"
                            % RECO).encode(), 200),
    ("request id is echoed", get("/healthz").replace(b"\r\n\r\n", b"\r\nX-Request-Id: hostile-42\r\n\r\n"),
     200, "X-Request-Id: hostile-42"),
    ("request id with a quote is replaced", get("/healthz").replace(b"\r\n\r\n", b"\r\nX-Request-Id: a\"b\r\n\r\n"),
     200),
]

results = []


def check(name, fn, expect, header=None):
    t0 = time.time()
    try:
        got = fn()
    except OSError as e:
        got = [("error:" + e.__class__.__name__, "", b"")]
    exp = expect if isinstance(expect, tuple) else (expect,)
    ok = all(g[0] in exp for g in got) and len(got) > 0
    if ok and header:
        ok = header.lower() in got[0][1].lower()
    alive = raw(get("/healthz"), timeout=5)[0][0] == 200
    results.append(ok and alive)
    print("%-4s %-44s expect %-24s got %-14s %.2fs%s" % (
        "ok" if ok and alive else "FAIL", name, "/".join(map(str, exp)),
        ",".join(str(g[0]) for g in got), time.time() - t0, "" if alive else "  SERVER DOWN"))
    sys.stdout.flush()


for c in cases:
    name, payload, expect = c[0], c[1], c[2]
    check(name, lambda p=payload: raw(p), expect, c[3] if len(c) > 3 else None)

# Pipelined: three requests in one write, three answers in order.
check("3 pipelined requests", lambda: raw(get("/healthz") + reco('{"user":"u1","k":1}') + get("/readyz"),
                                           responses=3), 200)
# An early answer without a body keeps the connection: 404, 401-free 405, then 200.
check("404 and 405 keep the connection open", lambda: raw(get("/nope") + get(RECO) + get("/healthz"),
                                                           responses=3), (404, 405, 200))
# Keep-alive: 50 requests on one connection.
check("50 requests on one keep-alive connection", lambda: raw(get("/healthz") * 50, responses=50), 200)
# Slowloris: request line then one header byte every 0.5 s; must be cut off
# within read_timeout (+ the 250 ms sweep), never answered.
slow = [b"GET /healthz HTTP/1.1\r\n"] + [b"X"] * 400


def slowloris():
    t0 = time.time()
    r = raw(None, chunks=slow[:1], timeout=READ_TIMEOUT + 8)
    return [(r[0][0] if time.time() - t0 < READ_TIMEOUT + 3 else "too-slow-cut", "", b"")]


def slowloris_trickle():
    s = socket.create_connection(("127.0.0.1", PORT), timeout=2)
    t0 = time.time()
    try:
        s.sendall(slow[0])
        for b in slow[1:]:
            time.sleep(0.5)
            s.sendall(b)
            if time.time() - t0 > READ_TIMEOUT + 6:
                return [("not-cut", "", b"")]
    except (BrokenPipeError, ConnectionResetError):
        pass
    st = read_response(s, time.time() + 2)[0]
    s.close()
    return [(st if time.time() - t0 < READ_TIMEOUT + 3 else "too-slow-cut", "", b"")]


def slow_body():
    body = b'{"user":"u1","k":5}'
    hdr = ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
           % (RECO, len(body))).encode()
    s = socket.create_connection(("127.0.0.1", PORT), timeout=2)
    t0 = time.time()
    try:
        s.sendall(hdr)
        for i in range(len(body)):
            time.sleep(0.5)
            s.sendall(body[i:i + 1])
            if time.time() - t0 > READ_TIMEOUT + 6:
                return [("not-cut", "", b"")]
    except (BrokenPipeError, ConnectionResetError):
        pass
    st = read_response(s, time.time() + 2)[0]
    s.close()
    return [(st if time.time() - t0 < READ_TIMEOUT + 3 else "too-slow-cut", "", b"")]


def idle_then_request():
    """A connection that sends a request just under read_timeout is served."""
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    s.sendall(b"GET /healthz HTTP/1.1\r\n")
    time.sleep(READ_TIMEOUT * 0.5)
    s.sendall(b"Host: x\r\n\r\n")
    r = read_response(s, time.time() + 3)
    s.close()
    return [r]


check("slowloris: headers never finish", slowloris, ("closed", "reset"))
check("slowloris: a header byte every 0.5 s", slowloris_trickle, ("closed", "reset"))
check("slow body: a byte every 0.5 s", slow_body, ("closed", "reset"))
check("slow but within read_timeout", idle_then_request, 200)

passed = sum(results)
print("RESULT hostile cases=%d passed=%d" % (len(results), passed))
sys.exit(0 if passed == len(results) else 1)
