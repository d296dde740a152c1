#!/usr/bin/env bash
# owndata_bounded.sh - the automatic confidence rule on bounded weights
# (docs/training.md, "Weights and confidence"): binary vs log vs linear at the
# default settings, test NDCG@10 from `encore-train eval`, on
#   - the demo data (encore-train demo-data: weights 1-3), and
#   - ml-100k with the 1-5 ratings as weights (u.data's first three columns),
# each split per user by bench/count_split.py (the shared splits' rule, seed 42).
# Prints one markdown table row per data set.
#
# usage: bench/owndata_bounded.sh BUILD_DIR [OUT_DIR]
#   ENCORE_SHARED (default ../shared) holds datasets/; ml-100k is skipped when absent.
set -euo pipefail
BUILD=$(cd "${1:?usage: owndata_bounded.sh BUILD_DIR [OUT_DIR]}" && pwd)
OUT=${2:-/tmp/encore-owndata-bounded}
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${ENCORE_SHARED:-$HERE/../../shared}
TR=$BUILD/encore-train
PY=/usr/bin/python3
rm -rf "$OUT"
mkdir -p "$OUT"

ndcg() {
  "$PY" -c 'import json, sys; print("%.4f" % json.load(sys.stdin)["model"]["ndcg"])'
}

# row LABEL FILE: split FILE, train each scheme (and auto), print a row
row() {
  local label=$1 file=$2 name
  name=$(basename "$(dirname "$file")")
  "$PY" "$HERE/count_split.py" "$file" "$OUT/$name/split" 42
  local cells=() chosen
  for conf in auto log binary linear; do
    "$TR" als --interactions "$OUT/$name/split/train.tsv" --confidence "$conf" --threads 2 \
      --out "$OUT/repo/$name-$conf" >/dev/null 2>"$OUT/$name-$conf.err"
    cells+=("$("$TR" eval --model "$OUT/repo/$name-$conf" --train "$OUT/$name/split/train.tsv" \
      --test "$OUT/$name/split/test.tsv" 2>/dev/null | ndcg)")
  done
  chosen=$(sed -n 's/^als: confidence (automatic): .*: \([a-z0-9]*\) (c = .*/\1/p' "$OUT/$name-auto.err")
  echo "| $label | ${cells[0]} ($chosen) | ${cells[1]} | ${cells[2]} | ${cells[3]} |"
}

echo "| data | auto (chose) | log | binary | linear |"
echo "| --- | --- | --- | --- | --- |"
"$TR" demo-data --dir "$OUT/demo" >/dev/null 2>&1
row "demo data (weights 1-3)" "$OUT/demo/interactions.tsv"
U=$SHARED/datasets/ml-100k/u.data
if [ -f "$U" ]; then
  mkdir -p "$OUT/ml100k"
  cut -f1-3 "$U" >"$OUT/ml100k/ratings.tsv"
  row "ml-100k, ratings 1-5 as weights" "$OUT/ml100k/ratings.tsv"
else
  echo "| ml-100k | (absent: skipped) | | | |"
fi
