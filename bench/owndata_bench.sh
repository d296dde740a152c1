#!/usr/bin/env bash
# owndata_bench.sh - issue #19's figures: ALS defaults vs --tune on the shared
# MovieLens splits (train.tsv -> test.tsv), and the confidence schemes vs
# --tune on generated play counts (encore-train demo-data --counts, split per
# user by bench/count_split.py with the shared splits' rule, seed 42).
# Test NDCG@10 from `encore-train eval` (the serving path); --tune picks on a
# validation split carved from the training file only, never on test.
#
# Prints one markdown table row per run: data, setting, test NDCG@10, the
# popularity baseline, fits, seconds per fit (validation fits, on 80% of the
# data) and the final fit's seconds. The machine may be loaded: compare the
# per-fit times within one run, not with other runs.
#
# usage: bench/owndata_bench.sh BUILD_DIR [OUT_DIR] [BUDGET]
#   ENCORE_SHARED (default ../shared) holds datasets/; a missing dataset is skipped.
set -euo pipefail
BUILD=$(cd "${1:?usage: owndata_bench.sh BUILD_DIR [OUT_DIR] [BUDGET]}" && pwd)
OUT=${2:-/tmp/encore-owndata-bench}
BUDGET=${3:-24}
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${ENCORE_SHARED:-$HERE/../../shared}
DS=$SHARED/datasets
TR=$BUILD/encore-train
PY=/usr/bin/python3
rm -rf "$OUT"
mkdir -p "$OUT"

ndcg() {   # eval JSON -> "model popularity"
  "$PY" -c 'import json, sys; j = json.load(sys.stdin); print("%.4f %.4f" % (j["model"]["ndcg"], j["popularity"]["ndcg"]))'
}

tune_stats() {   # model file -> "fits seconds_per_fit chosen-settings"
  "$PY" - "$1" <<'EOF'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    h = json.loads(json.loads(f.read(n))["__metadata__"]["hyperparameters"])
t = h.get("tune")
if not t:
    print("- - -")
else:
    c = t["trials"][t["chosen"] - 1]
    keys = [k for k in c if k not in ("ndcg", "seconds")]
    print("%d %.2f %s" % (t["fits"], t["seconds_per_fit"],
                          ",".join("%s=%s" % (k, ("%.3g" % c[k]) if isinstance(c[k], float) else c[k])
                                   for k in keys)))
EOF
}

# run NAME TRAIN TEST LABEL ARGS...: train, evaluate, print a row
run() {
  local name=$1 train=$2 test=$3 label=$4
  shift 4
  local dir=$OUT/repo/$name
  local t0 t1
  t0=$(date +%s.%N)
  "$TR" als --interactions "$train" --out "$dir" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
  t1=$(date +%s.%N)
  local fit
  fit=$(sed -n 's/^als: trained .* in \([0-9.]*\) s .*/\1/p' "$OUT/$name.err" | tail -1)
  local nd
  nd=$("$TR" eval --model "$dir" --train "$train" --test "$test" 2>/dev/null | ndcg)
  local ts
  ts=$(tune_stats "$dir/1/model.safetensors")
  set -- $nd
  local m=$1 p=$2
  set -- $ts
  printf '| %s | %s | %s | %s | %s | %s | %s | %.0f |\n' "$label" "$name" "$m" "$p" "$1" "$2" "$fit" \
    "$(echo "$t1 - $t0" | bc)"
  [ "$3" != "-" ] && echo "    chosen: $3" >&2 || true
}

echo "| data | run | test NDCG@10 | popularity | fits | s / validation fit | final fit s | wall s |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for d in ml-100k ml-latest-small; do
  s=$DS/$d/splits
  [ -f "$s/train.tsv" ] || { echo "| $d | (absent: skipped) | | | | | | |"; continue; }
  run "$d-defaults" "$s/train.tsv" "$s/test.tsv" "$d" --threads 2
  run "$d-tune" "$s/train.tsv" "$s/test.tsv" "$d" --threads 2 --tune --tune-budget "$BUDGET"
done

# generated play counts
"$TR" demo-data --counts --dir "$OUT/counts" >/dev/null 2>"$OUT/counts.err"
"$PY" "$HERE/count_split.py" "$OUT/counts/plays.tsv" "$OUT/counts/split" 42
C=$OUT/counts/split
for conf in auto binary linear log bm25; do
  run "counts-$conf" "$C/train.tsv" "$C/test.tsv" "demo-data --counts" --threads 2 --confidence "$conf"
done
run "counts-tune" "$C/train.tsv" "$C/test.tsv" "demo-data --counts" --threads 2 --tune --tune-budget "$BUDGET"
grep -h '^als: weights\|^als: confidence' "$OUT/counts-auto.err" >&2
