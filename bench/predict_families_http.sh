#!/usr/bin/env bash
# predict_families_http.sh - one-instance KServe V1 :predict over HTTP for an
# image model (the issue's CNN on Fashion-MNIST) and a text model (NBSVM on
# rt-polarity), side by side in one run with the libmicrohttpd ceiling, at 1
# and 16 connections (1 connection = single-request latency).
#
#   bash bench/predict_families_http.sh [compare.sh options...]
#
# Needs /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist)
# and ../shared/datasets/rt-polarity. The CNN is trained for 1 epoch only: this
# measures serving cost, which does not depend on the weights.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
SHARED=${ENCORE_SHARED:-$ROOT/../shared}
BUILD=${BUILD:-$ROOT/build}
OUT=${OUT:-$(mktemp -d /tmp/encore-bench.XXXXXX)}
PORT=${PORT:-18083}
FM=/usr/share/datasets/fashion-mnist
mkdir -p "$OUT"
cmake --build "$BUILD" --target encore-server encore-train >/dev/null
"$BUILD/encore-train" cnn --train-images $FM/train-images-idx3-ubyte.gz \
  --train-labels $FM/train-labels-idx1-ubyte.gz --out "$OUT/repo/fashion" --epochs 1 \
  >"$OUT/cnn.out" 2>"$OUT/cnn.log"
"$BUILD/encore-train" text --model nbsvm --pos "$SHARED/datasets/rt-polarity/rt-polarity.pos" \
  --neg "$SHARED/datasets/rt-polarity/rt-polarity.neg" --out "$OUT/repo/reviews" \
  >"$OUT/text.out" 2>"$OUT/text.log"
# The first test image as 28 rows of 28 pixel values (0-255).
/usr/bin/python3 - "$FM/t10k-images-idx3-ubyte.gz" >"$OUT/fashion_v1.json" <<'PY'
import gzip, json, sys
raw = gzip.open(sys.argv[1]).read()[16:16 + 784]
print(json.dumps({"instances": [[list(raw[r * 28:(r + 1) * 28]) for r in range(28)]]}))
PY
"$BUILD/encore-server" --models "$OUT/repo" --host 127.0.0.1 --port "$PORT" --drain-seconds 0 \
  2>"$OUT/server.log" &
SRV=$!
trap 'kill $SRV 2>/dev/null; wait $SRV 2>/dev/null' EXIT
for i in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
for m in fashion:"$OUT/fashion_v1.json" reviews:"$HERE/bodies/review_v1.json"; do
  name=${m%%:*} body=${m#*:}
  echo "=== $name ===" >&2
  PREDICT_PATH=/v1/models/$name:predict PREDICT_BODY_FILE=$body \
    bash "$SHARED/bench/compare.sh" -s "$SHARED/bench/predict.lua" -c "${CONNS:-1 16}" \
    --out "$OUT/compare-$name" --target-pid "$SRV" --label "encore-$name" "$@" \
    "http://127.0.0.1:$PORT" mhd-epoll
done
