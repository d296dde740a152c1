#!/usr/bin/env bash
# recommend_http.sh - recommend over HTTP, side by side in one run against the
# libmicrohttpd ceiling (mhd-epoll, and mhd-epoll-1: what one event loop can
# do) and the FastAPI + numpy peer, with ../shared/bench/compare.sh. Rows:
#   encore       encore-server, defaults (score_precision auto: int8 screening
#                + exact f32 re-score where the CPU has AVX2/FMA)
#   peer:PORT+1  the same with --score-precision f32 (cblas_sgemv over all items)
#   peer:PORT+2  the same with --score-precision f16 (binary16 item factors)
#   peer:PORT+3  only with BASELINE_BUILD=DIR: that build's encore-server with
#                its defaults (a build of an earlier commit, to show a change;
#                results name the commit, not the directory: see BENCHMARKS.md)
#
#   bash bench/recommend_http.sh [compare.sh options...]   e.g. -d 10 -r 3 --max-bg 30
#   SHORT=1 bash bench/recommend_http.sh ...   only encore, mhd-epoll and fastapi-2
#                (a third of the time: for repeating the deciding comparison)
#
# Model: ALS on MovieLens 100K u.data (943 users x 1682 items x 64 factors),
# the same shape the Python peers serve. The server runs with its defaults
# (access log on, threads auto = 2 per usable core; SERVER_ARGS adds flags); its stderr goes to
# $OUT/server.log.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
SHARED=${ENCORE_SHARED:-$ROOT/../shared}
BUILD=${BUILD:-$ROOT/build}
OUT=${OUT:-$(mktemp -d /tmp/encore-bench.XXXXXX)}
mkdir -p "$OUT"
PORT=${PORT:-18080}
[ -f "$SHARED/datasets/ml-100k/u.data" ] || { echo "needs $SHARED/datasets/ml-100k" >&2; exit 2; }
cmake --build "$BUILD" --target encore-server encore-train >/dev/null
"$BUILD/encore-train" als --interactions "$SHARED/datasets/ml-100k/u.data" \
  --items "$SHARED/datasets/ml-100k/u.item" --out "$OUT/repo/movielens" --factors 64 2>"$OUT/train.log"
export RECO_PATH=/v1/models/movielens:recommend
echo "results and logs in $OUT" >&2
"$BUILD/encore-server" --models "$OUT/repo" --host 127.0.0.1 --port "$PORT" --drain-seconds 0 \
  ${SERVER_ARGS:-} 2>"$OUT/server.log" &
SRV=$!
trap 'kill $SRV 2>/dev/null; wait $SRV 2>/dev/null' EXIT
for i in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
kill -0 "$SRV" 2>/dev/null || { echo "encore-server did not start (port $PORT taken?):" >&2; cat "$OUT/server.log" >&2; exit 1; }
# The same server scoring every item in f32, as a second row ("peer:PORT+1").
"$BUILD/encore-server" --models "$OUT/repo" --host 127.0.0.1 --port $((PORT + 1)) --drain-seconds 0 \
  --score-precision f32 ${SERVER_ARGS:-} 2>"$OUT/server32.log" &
SRV1=$!
trap 'kill $SRV $SRV1 2>/dev/null; wait $SRV $SRV1 2>/dev/null' EXIT
for i in $(seq 50); do curl -sf "http://127.0.0.1:$((PORT + 1))/readyz" >/dev/null && break; sleep 0.1; done
"$BUILD/encore-server" --models "$OUT/repo" --host 127.0.0.1 --port $((PORT + 2)) --drain-seconds 0 \
  --score-precision f16 ${SERVER_ARGS:-} 2>"$OUT/server16.log" &
SRV16=$!
trap 'kill $SRV $SRV1 $SRV16 2>/dev/null; wait $SRV $SRV1 $SRV16 2>/dev/null' EXIT
for i in $(seq 50); do curl -sf "http://127.0.0.1:$((PORT + 2))/readyz" >/dev/null && break; sleep 0.1; done
BASE=()
if [ -n "${BASELINE_BUILD:-}" ]; then
  "$BASELINE_BUILD/encore-server" --models "$OUT/repo" --host 127.0.0.1 --port $((PORT + 3)) \
    --drain-seconds 0 2>"$OUT/server-baseline.log" &
  SRVB=$!
  trap 'kill $SRV $SRV1 $SRV16 $SRVB 2>/dev/null; wait $SRV $SRV1 $SRV16 $SRVB 2>/dev/null' EXIT
  for i in $(seq 50); do curl -sf "http://127.0.0.1:$((PORT + 3))/readyz" >/dev/null && break; sleep 0.1; done
  BASE=("http://127.0.0.1:$((PORT + 3))")
fi
ROWS=("http://127.0.0.1:$((PORT + 1))" "http://127.0.0.1:$((PORT + 2))" "${BASE[@]}" mhd-epoll
      mhd-epoll-1 fastapi-2)
[ -n "${SHORT:-}" ] && ROWS=("${BASE[@]}" mhd-epoll fastapi-2)
bash "$SHARED/bench/compare.sh" -c "${CONNS:-16 64}" --out "$OUT/compare" --target-pid "$SRV" \
  --label encore "$@" "http://127.0.0.1:$PORT" "${ROWS[@]}"
