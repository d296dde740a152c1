#!/usr/bin/env bash
# e2e_hostile.sh - the hostile input table (tests/ops_hostile.py): malformed,
# oversized, deeply nested, wrongly typed, slow and pipelined requests, each
# with its expected status; the server answers every one, /healthz stays 200
# after each, and the server exits 0 at the end.
#
#   bash tests/e2e_hostile.sh BUILD_DIR
set -u
source "$(dirname "$0")/ops_lib.sh"
ops_init "$1"
ops_model demo
RT=2
ops_start --threads 2 --read-timeout $RT --connection-timeout 5 --max-body-bytes 1048576
python3 "$OPS_SRC/tests/ops_hostile.py" "$OPS_PORT" demo $RT | tee "$OPS_TMP/hostile.txt"
rc=${PIPESTATUS[0]}
kill -0 "$OPS_PID" 2>/dev/null || ops_fail "the server died: $(tail -5 "$OPS_TMP/server.log")"
timed_out=$(curl -s "$OPS_URL/metrics" | awk '$1 == "encore_connections_timed_out_total" { print $2 }')
echo "RESULT hostile_connections_cut=$timed_out"
ops_stop
[ "$OPS_EXIT" = 0 ] || ops_fail "server exit status $OPS_EXIT: $(grep -m3 -iE 'error|leak' "$OPS_TMP/server.log")"
[ "$rc" = 0 ] || ops_fail "hostile cases failed (see above)"
[ "${timed_out:-0}" -ge 3 ] || ops_fail "encore_connections_timed_out_total is $timed_out after 3 slow clients"

# Connection limit: with max_connections 4, a 5th connection is answered
# 503 (Retry-After, Connection: close) instead of being reset; once the 4
# close, new connections are served again.
ops_start --max-connections 4 --access-log false
python3 - "$OPS_PORT" <<'PY' || ops_fail "connection limit"
import socket, sys, time
port = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
time.sleep(0.2)
def ask():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        c = s.recv(4096)
        if not c:
            break
        data += c
    s.close()
    return data.decode("latin-1")
over = ask()
print("over the limit:", over.split("\r\n")[0])
assert over.startswith("HTTP/1.1 503"), over
assert "retry-after: 1" in over.lower() and "connection: close" in over.lower(), over
for s in held:
    s.close()
time.sleep(0.5)
again = ask()
print("after closing:", again.split("\r\n")[0])
assert again.startswith("HTTP/1.1 200"), again
PY
rejected=$(curl -s "$OPS_URL/metrics" | awk '$1 == "encore_connections_rejected_total" { print $2 }')
[ "$rejected" = 1 ] || ops_fail "encore_connections_rejected_total is $rejected, expected 1"
ops_stop
[ "$OPS_EXIT" = 0 ] || ops_fail "server exit status $OPS_EXIT"
echo "RESULT connection_limit max_connections=4 fifth_connection=503 rejected_total=$rejected"
echo "PASS e2e_hostile"
