#!/usr/bin/env bash
# instr_per_request.sh - user-space instructions per request, counted by
# valgrind's callgrind: deterministic and independent of machine load (the
# wrk benchmarks are not, on a shared machine). Starts the server under
# callgrind, warms up, zeroes the counters, sends N recommend requests over
# one keep-alive connection (curl), dumps the counters and prints
# instructions per request, plus the top functions (inclusive).
#
#   bash bench/instr_per_request.sh MODEL_REPO [N=300] [-- SERVER ARGS...]
#   bash bench/instr_per_request.sh --ceiling [N=300]   # the mhd_static ceiling
#
# Needs valgrind. MODEL_REPO must hold a model named "movielens" whose users
# are "1".."943" (bench/recommend_http.sh trains one: ml-100k u.data).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${BUILD:-$ROOT/build}
SHARED=${ENCORE_SHARED:-$ROOT/../shared}
REPO=${1:?usage: instr_per_request.sh MODEL_REPO|--ceiling [N] [-- SERVER ARGS]}
N=${2:-300}
shift 2 2>/dev/null || shift $#
[ "${1:-}" = "--" ] && shift
PORT=${PORT:-18190}
OUT=$(mktemp -d /tmp/encore-ir.XXXXXX)
if [ "$REPO" = "--ceiling" ]; then
  cc -O2 -o "$OUT/mhd_static" "$SHARED/bench/ceiling/mhd_static.c" $(pkg-config --cflags --libs libmicrohttpd)
  CMD=("$OUT/mhd_static" -p "$PORT")
else
  CMD=("$BUILD/encore-server" --models "$REPO" --host 127.0.0.1 --port "$PORT" --drain-seconds 0 --watch false "$@")
fi
valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.out" "${CMD[@]}" >"$OUT/server.log" 2>&1 &
VG=$!
trap 'kill $VG 2>/dev/null; wait $VG 2>/dev/null; rm -rf "$OUT"' EXIT
for i in $(seq 120); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.5; done
requests() {  # N: one curl process, one keep-alive connection, users 1..N (mod 943)
  local args=() i
  for i in $(seq "$1"); do
    args+=(-s -o /dev/null -X POST -H 'Content-Type: application/json'
           --data "{\"user\":\"$(( (i - 1) % 943 + 1 ))\",\"k\":10}"
           "http://127.0.0.1:$PORT/v1/models/movielens:recommend" --next)
  done
  curl "${args[@]}" -s -o /dev/null "http://127.0.0.1:$PORT/healthz"
}
requests 50
callgrind_control -z "$VG" >/dev/null
requests "$N"
callgrind_control -d "$VG" >/dev/null
sleep 1
DUMP=$(ls -t "$OUT"/cg.out.* | head -1)
[ -n "${KEEP:-}" ] && cp "$DUMP" "$KEEP"   # KEEP=FILE: keep the callgrind dump
TOTAL=$(callgrind_annotate "$DUMP" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "instructions per request: $(( TOTAL / (N + 1) ))  ($TOTAL over $N requests + 1 healthz)"
callgrind_annotate --inclusive=yes "$DUMP" 2>/dev/null | awk 'NR > 20 && /^ *[0-9,]+ / {print}' | head -${TOP:-25} | cut -c1-140
