#!/usr/bin/env bash
# predict_http.sh - KServe V1 :predict over HTTP for the iris forest, side by
# side in one run against the libmicrohttpd ceiling (mhd-epoll, and
# mhd-epoll-1: what one event loop can do), with ../shared/bench/compare.sh
# and its predict.lua (one fixed body per request).
#
#   bash bench/predict_http.sh [compare.sh options...]    e.g. -d 10 -r 3 --max-bg 30
#   BODY=bench/bodies/iris_v2.json PREDICT_PATH=/v2/models/iris/infer bash bench/predict_http.sh
#
# Model: encore-train forest on tests/data/iris/train.csv, 100 trees (the
# issue's reference size). The body is one iris row (bench/bodies/iris_v1.json).
# The server runs with its defaults (access log on, 2 HTTP threads); its stderr
# goes to $OUT/server.log. peer:PORT+1 is the same server with --access-log false.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
SHARED=${ENCORE_SHARED:-$ROOT/../shared}
BUILD=${BUILD:-$ROOT/build}
OUT=${OUT:-$(mktemp -d /tmp/encore-bench.XXXXXX)}
PORT=${PORT:-18081}
BODY=${BODY:-$HERE/bodies/iris_v1.json}
mkdir -p "$OUT"
cmake --build "$BUILD" --target encore-server encore-train >/dev/null
"$BUILD/encore-train" forest --data "$ROOT/tests/data/iris/train.csv" --label species \
  --out "$OUT/repo/iris" --trees 100 --seed 42 >"$OUT/train.out" 2>"$OUT/train.log"
export PREDICT_PATH=${PREDICT_PATH:-/v1/models/iris:predict}
export PREDICT_BODY_FILE=$(cd "$(dirname "$BODY")" && pwd)/$(basename "$BODY")
echo "results and logs in $OUT; $PREDICT_PATH with $PREDICT_BODY_FILE" >&2
# The same server with the access log off, measured as a peer in the same run:
# shows what the per-request log line costs next to the protocol work.
"$BUILD/encore-server" --models "$OUT/repo" --host 127.0.0.1 --port $((PORT + 1)) \
  --drain-seconds 0 --access-log false 2>"$OUT/server-nolog.log" &
NOLOG_PID=$!
trap 'kill $NOLOG_PID 2>/dev/null; wait $NOLOG_PID 2>/dev/null' EXIT
for i in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$((PORT + 1))/healthz" && break; sleep 0.1; done
bash "$SHARED/bench/compare.sh" -s "$SHARED/bench/predict.lua" -c "${CONNS:-16 64}" \
  --out "$OUT/compare" \
  --target-cmd "$BUILD/encore-server --models $OUT/repo --host 127.0.0.1 --port $PORT --drain-seconds 0 2>$OUT/server.log" \
  --label encore "$@" "http://127.0.0.1:$PORT" "http://127.0.0.1:$((PORT + 1))" mhd-epoll mhd-epoll-1
