#!/usr/bin/env bash
# sec_slowloris.sh - connections that send nothing cannot keep others out
# (issue #20, Medium).
#
# Before: a connection that sent nothing was kept for connection_timeout
# (30 s), and ~70 connects a second from one address kept a normal client
# at 503 for 46 s. Here:
#   1. zero-byte connections are closed after first_request_timeout (1 s
#      here, with connection_timeout 30): all 20 are closed within 8 s;
#   2. the flood: 70 connects a second for 5 s from 127.0.0.2, none sending
#      a byte, with max_connections 64 and max_connections_per_ip 16: a
#      normal client on 127.0.0.1 asking every 100 ms gets 200 every time,
#      and the flood's excess connections are closed at accept (counted in
#      encore_connections_rejected_per_ip_total).
# Loopback only; about 20 s.
#
#   bash tests/security/sec_slowloris.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh"
sec_init "$1"
ops_model demo
"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.2", 0))' 2>/dev/null ||
    ops_skip "cannot bind 127.0.0.2 (needed for a second client address)"

ops_start --threads 2 --access-log false --drain-seconds 0 --connection-timeout 30 \
    --first-request-timeout 1
res=$("$PY" "$SEC_DIR/slowloris.py" "$OPS_PORT" idle 20 8)
echo "$res"
sec_check "zero-byte connections closed within 8 s (first_request_timeout 1)" "closed=20" \
    "$(grep -o 'closed=[0-9]*' <<<"$res")"
sec_check "/healthz" 200 "$(sec_status GET /healthz)"
sec_stop_within 20
sec_check "exit status" 0 "$OPS_EXIT"

ops_start --threads 2 --access-log false --drain-seconds 0 --max-connections 64 \
    --max-connections-per-ip 16 --first-request-timeout 2
res=$("$PY" "$SEC_DIR/slowloris.py" "$OPS_PORT" flood 70 5 127.0.0.2)
echo "$res"
n=$(sed -n 's/.* normal=\([0-9]*\).*/\1/p' <<<"$res")
ok=$(sed -n 's/.* normal_200=\([0-9]*\).*/\1/p' <<<"$res")
sec_check "the normal client was asked (over 20 times)" 1 "$([ "${n:-0}" -gt 20 ] && echo 1)"
sec_check "the normal client got 200 every time during the flood" "${n:-x}" "${ok:-y}"
per_ip=$(curl -s "$OPS_URL/metrics" | awk '$1 == "encore_connections_rejected_per_ip_total" { print $2 }')
sec_check "the flood's excess closed at accept" 1 "$([ "${per_ip:-0}" -gt 0 ] && echo 1)"
echo "RESULT slowloris rejected_per_ip=${per_ip:-?}"
sec_stop_within 20
sec_check "exit status" 0 "$OPS_EXIT"
sec_finish
