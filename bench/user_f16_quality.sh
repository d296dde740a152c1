#!/usr/bin/env bash
# user_f16_quality.sh - ranking quality of a model whose user factors are
# stored as binary16 (encore-train --user-precision f16) against the same
# model with f32 users, on the shared MovieLens splits.
#
#   bash bench/user_f16_quality.sh [BUILD_DIR]
#
# For ml-100k and ml-latest-small (shared/datasets/*/splits): encore-train
# als with its defaults (fixed seed, so both files hold the same trained
# factors), published once with f32 and once with f16 user factors, each
# evaluated by `encore-train eval` (the model file loaded as the server
# loads it) at k = 10. One JSON line per data set: both NDCG@10 values, the
# difference, and the two files' sizes. The goal: |difference| <= 0.002.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${1:-$root/build}
bin=$build/encore-train
ds_dir=${ENCORE_DATASETS:-$root/../shared/datasets}
[ -x "$bin" ] || { echo "no $bin (build first)" >&2; exit 1; }
[ -d "$ds_dir/ml-100k/splits" ] || { echo "no shared datasets at $ds_dir" >&2; exit 1; }
tmp=$(mktemp -d /tmp/encore-f16.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
for ds in ml-100k ml-latest-small; do
  s=$ds_dir/$ds/splits
  for p in f32 f16; do
    "$bin" als --interactions "$s/train.tsv" --out "$tmp/repo/$ds-$p" --threads 2 \
      --user-precision "$p" 2>"$tmp/$ds-$p.log" >/dev/null
    "$bin" eval --model "$tmp/repo/$ds-$p" --train "$s/train.tsv" --test "$s/test.tsv" --k 10 \
      2>/dev/null >"$tmp/$ds-$p.json"
  done
  python3 - "$ds" "$tmp/$ds-f32.json" "$tmp/$ds-f16.json" "$tmp/repo/$ds-f32/1/model.safetensors" \
    "$tmp/repo/$ds-f16/1/model.safetensors" <<'PY'
import json, os, sys
ds, a, b, fa, fb = sys.argv[1:]
na = json.load(open(a))["model"]["ndcg"]
nb = json.load(open(b))["model"]["ndcg"]
print(json.dumps({"dataset": ds, "ndcg_f32_users": na, "ndcg_f16_users": nb,
                  "difference": round(nb - na, 6), "within_0.002": abs(nb - na) <= 0.002,
                  "file_bytes_f32": os.path.getsize(fa), "file_bytes_f16": os.path.getsize(fb)}))
PY
done
