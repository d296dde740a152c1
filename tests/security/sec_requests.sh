#!/usr/bin/env bash
# sec_requests.sh - hostile requests at the HTTP level (issue #20, Low).
#   - request smuggling's building blocks: two Content-Length headers, and
#     Content-Length with Transfer-Encoding: chunked, are answered 400 and
#     the connection closed (libmicrohttpd 0.9.75 took the first length and
#     ran the rest as a second request, or kept the connection);
#   - 1 MiB of {} (349,000 objects; ~80 MB of parser memory) is refused by
#     the pre-scan (400 naming max_json_elements) for a few MB of peak RSS;
#   - GET /v1/models and /v1/models/NAME show paths relative to the
#     repository, never the server's directories.
# Loopback only; about 5 s.
#
#   bash tests/security/sec_requests.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh"
sec_init "$1"
ops_model demo
ops_start --threads 2 --drain-seconds 0
out=$("$PY" "$SEC_DIR/framing.py" "$OPS_PORT" demo)
echo "$out"
sec_check "two Content-Length headers" "two_cl status=400 responses=1 closed=1" "$(grep two_cl <<<"$out")"
sec_check "Content-Length + Transfer-Encoding" "cl_te status=400 responses=1 closed=1" "$(grep cl_te <<<"$out")"

"$PY" -c 'import sys; n = 349000; sys.stdout.write("{\"instances\":[" + ",".join(["{}"] * n) + "]}")' \
    >"$OPS_TMP/objects.json"
hwm0=$(awk '/^VmHWM:/ { print $2 }' "/proc/$OPS_PID/status")
body=$(curl -s -m 30 -w '\n%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$OPS_TMP/objects.json" "$OPS_URL/v1/models/demo:recommend")
hwm1=$(awk '/^VmHWM:/ { print $2 }' "/proc/$OPS_PID/status")
sec_check "1 MiB of {}: status" 400 "${body##*$'\n'}"
case "$body" in *max_json_elements*) sec_check "names max_json_elements" 1 1 ;;
    *) sec_check "names max_json_elements" "...max_json_elements..." "${body%$'\n'*}" ;; esac
ops_note "1 MiB of {}: peak RSS growth $((hwm1 - hwm0)) kB"
sec_check "1 MiB of {}: peak RSS growth under 16 MiB" 1 \
    "$([ $((hwm1 - hwm0)) -lt 16384 ] && echo 1 || echo "$((hwm1 - hwm0)) kB")"

list=$(curl -s "$OPS_URL/v1/models")
one=$(curl -s "$OPS_URL/v1/models/demo")
sec_check "GET /v1/models: the path is relative" "demo/1/model.safetensors" \
    "$(printf '%s' "$list" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["models"][0]["path"])' 2>/dev/null ||
       printf '%s' "$list" | grep -o '"path":"[^"]*"' | head -1 | cut -d'"' -f4)"
case "$list$one" in *"$OPS_REPO"*|*"$OPS_TMP"*) sec_check "no absolute repository path shown" "none" "$list $one" ;;
    *) sec_check "no absolute repository path shown" 1 1 ;; esac
sec_stop_within 20
sec_check "exit status" 0 "$OPS_EXIT"
sec_finish
