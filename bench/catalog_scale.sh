#!/usr/bin/env bash
# catalog_scale.sh - a large synthetic catalogue with an item index: build
# time, load time, exact vs index latency, recall (bench/results/ann.md,
# BENCHMARKS.md).
#
#   bash bench/catalog_scale.sh [--items N=1000000] [--queries Q=1000] [--ef EF=100]
#                               [--m M=32] [--ef-construction E=200] [--keep DIR]
#
# 1. ALS (64 factors) on MovieLens latest-small (../shared/datasets); a
#    Gaussian mixture is fitted to its item factors and another to its user
#    factors, and N items and Q users are drawn from them with the model's
#    norm distribution (bench/catalog_synth.py). Without the data set, a
#    random mixture stands in and the output says so.
# 2. encore-train import --index hnsw: the model with its index (build_s).
# 3. build/catalog_bench: load (warm page cache), then for the Q users the
#    exact recommend (int8 screen + f32 re-score) against a plain read of
#    the int8 table's bytes in the same run, and the index at EF (and a few
#    other beams, on stderr): recall@10 against the exact answer, p50 / p99,
#    unfiltered and with a filter removing half the items.
# 4. The same on the real models (ml-100k, latest-small), for sanity: recall
#    of the index there (stderr).
# Binaries come from $BUILD_DIR (default build/), built if absent. Ends with
# one JSON line. Times are thread CPU time per query (the machine is shared).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
DATA=${ENCORE_DATASETS:-$ROOT/../shared/datasets}
ITEMS=1000000 QUERIES=1000 EF=100 M=32 EFC=200 KEEP=""
while [ $# -gt 0 ]; do
  case $1 in
    --items) ITEMS=$2; shift 2 ;;
    --queries) QUERIES=$2; shift 2 ;;
    --ef) EF=$2; shift 2 ;;
    --m) M=$2; shift 2 ;;
    --ef-construction) EFC=$2; shift 2 ;;
    --keep) KEEP=$2; shift 2 ;;
    *) echo "usage: catalog_scale.sh [--items N] [--queries Q] [--ef EF] [--m M] [--ef-construction E] [--keep DIR]" >&2; exit 2 ;;
  esac
done
PY=/usr/bin/python3
"$PY" -c 'import numpy' 2>/dev/null || { echo "catalog_scale: needs numpy for $PY" >&2; exit 1; }
if [ ! -x "$BUILD_DIR/encore-train" ] || [ ! -x "$BUILD_DIR/catalog_bench" ]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" >/dev/null
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target encore-train catalog_bench >/dev/null
fi
T=${KEEP:-$(mktemp -d /tmp/catalog_scale.XXXXXX)}
mkdir -p "$T"
[ -n "$KEEP" ] || trap 'rm -rf "$T"' EXIT
log() { echo "catalog_scale: $*" >&2; }

structure="random-mixture"
synth_args=()
if [ -f "$DATA/ml-latest-small/ratings.csv" ]; then
  "$BUILD_DIR/encore-train" als --interactions "$DATA/ml-latest-small/ratings.csv" \
    --factors 64 --out "$T/repo/mls" >/dev/null 2>&1
  synth_args=(--model "$T/repo/mls/1/model.safetensors")
  structure="ml-latest-small-mixture"
else
  log "no $DATA/ml-latest-small: a random mixture stands in for ALS-shaped factors"
fi
"$PY" "$HERE/catalog_synth.py" --items "$ITEMS" --users "$QUERIES" --factors 64 \
  "${synth_args[@]}" --out "$T/syn"
"$BUILD_DIR/encore-train" import --user-factors "$T/syn/user_factors.npy" \
  --item-factors "$T/syn/item_factors.npy" --user-ids "$T/syn/user_ids.txt" \
  --item-ids "$T/syn/item_ids.txt" --index hnsw --index-m "$M" --index-ef-construction "$EFC" \
  --out "$T/repo/big" >"$T/import.json" 2>"$T/import.log" || { cat "$T/import.log" >&2; exit 1; }
build_s=$("$PY" -c 'import json,sys; print("%.1f" % json.load(open(sys.argv[1]))["index_build_seconds"])' "$T/import.json")
bytes=$(stat -c %s "$T/repo/big/1/model.safetensors")
log "$ITEMS items: index built in $build_s s (M $M, ef_construction $EFC); model file $bytes bytes"
cat "$T/repo/big/1/model.safetensors" >/dev/null   # a warm page cache, as the goal states
line=$("$BUILD_DIR/catalog_bench" "$T/repo/big" "$QUERIES" "$EF")

# The real models, for sanity.
for ds in ml-100k ml-latest-small; do
  case $ds in
    ml-100k) inter="$DATA/ml-100k/u.data" ;;
    *) inter="$DATA/ml-latest-small/ratings.csv" ;;
  esac
  [ -f "$inter" ] || continue
  "$BUILD_DIR/encore-train" als --interactions "$inter" --factors 64 --out "$T/repo/$ds" \
    >/dev/null 2>&1
  "$BUILD_DIR/encore-train" index --model "$T/repo/$ds" --index-m "$M" \
    --index-ef-construction "$EFC" >/dev/null 2>&1
  real=$("$BUILD_DIR/catalog_bench" "$T/repo/$ds" 1000 "$EF" "$EF" 2>/dev/null)
  log "$ds (real ALS factors, its own users): $real"
done

"$PY" - "$line" "$build_s" "$structure" "$M" "$EFC" "$bytes" <<'EOF'
import json, sys
j = json.loads(sys.argv[1])
out = {k: j[k] for k in ("items", "factors", "exact_ms_p50", "bandwidth_ms")}
out.update(ann_recall_at_10=j["ann_recall_at_10"], ann_ms_p50=j["ann_ms_p50"],
           ann_ms_p99=j["ann_ms_p99"], ann_filtered_recall_at_10=j["ann_filtered_recall_at_10"],
           build_s=float(sys.argv[2]), load_s=j["load_s"], ef=j["ann_ef"], m=int(sys.argv[4]),
           ef_construction=int(sys.argv[5]), exact_ms_p99=j["exact_ms_p99"],
           ann_filtered_ms_p50=j["ann_filtered_ms_p50"], model_bytes=int(sys.argv[6]),
           structure=sys.argv[3])
print(json.dumps(out, separators=(",", ":")))
EOF
