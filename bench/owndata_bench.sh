#!/usr/bin/env bash
# owndata_bench.sh - issue #19's figures: ALS defaults vs --tune on the shared
# MovieLens splits (train.tsv -> test.tsv), and the confidence schemes vs
# --tune on generated play counts (encore-train demo-data --counts, split per
# user by bench/count_split.py with the shared splits' rule, seed 42).
# Test NDCG@10 from `encore-train eval` (the serving path); --tune picks on a
# validation split carved from the training file only, never on test.
#
# Prints one markdown table row per run: algorithm, data, setting, test
# NDCG@10, the popularity baseline, fits, the final fit's seconds, the whole
# command's CPU seconds (user + sys) and, for --tune, that CPU time over the
# CPU time of the same data's defaults run (the goal: <= the budget). The
# machine may be loaded: CPU seconds, and ratios within one run.
#
# usage: bench/owndata_bench.sh BUILD_DIR [OUT_DIR] [BUDGET]
#   ALGS="als bpr" (default) picks the algorithms of the MovieLens part; NO_COUNTS=1
#   leaves out the generated counts;
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
    keys = [k for k in c if k not in ("ndcg", "seconds", "cost", "gain_z")]
    print("%d %.2f %s" % (t["fits"], t["seconds_per_fit"],
                          ",".join("%s=%s" % (k, ("%.3g" % c[k]) if isinstance(c[k], float) else c[k])
                                   for k in keys)))
EOF
}

# run ALG NAME TRAIN TEST LABEL ARGS...: train, evaluate, print a row. The
# CPU seconds of a run named *-defaults are kept as the unit of the
# following *-tune row's ratio.
declare -A CPU
run() {
  local alg=$1 name=$2 train=$3 test=$4 label=$5
  shift 5
  local dir=$OUT/repo/$name
  /usr/bin/time -f '%U %S %e' -o "$OUT/$name.time" \
    "$TR" "$alg" --interactions "$train" --out "$dir" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
  local cpu wall usr sys
  read -r usr sys wall <"$OUT/$name.time"
  cpu=$(printf '%.2f' "$(echo "$usr + $sys" | bc)")
  CPU[$name]=$cpu
  local fit
  fit=$(sed -n "s/^$alg: trained .* in \([0-9.]*\) s .*/\1/p" "$OUT/$name.err" | tail -1)
  local nd
  nd=$("$TR" eval --model "$dir" --train "$train" --test "$test" 2>/dev/null | ndcg)
  local ts
  ts=$(tune_stats "$dir/1/model.safetensors")
  local ratio=-
  local base=${name%-tune}-defaults
  [ "$name" != "$base" ] && [ -n "${CPU[$base]:-}" ] && ratio=$(printf '%.1f' "$(echo "scale=3; $cpu / ${CPU[$base]}" | bc)")
  set -- $nd
  local m=$1 p=$2
  set -- $ts
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$alg" "$label" "$name" "$m" "$p" "$1" \
    "$fit" "$cpu" "$ratio" "$wall"
  [ "$3" != "-" ] && echo "    $name chosen: $3" >&2 || true
}

echo "| alg | data | run | test NDCG@10 | popularity | fits | final fit s | CPU s | CPU / defaults | wall s |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for alg in ${ALGS:-als bpr}; do
  for d in ml-100k ml-latest-small; do
    s=$DS/$d/splits
    [ -f "$s/train.tsv" ] || { echo "| $alg | $d | (absent: skipped) | | | | | | | |"; continue; }
    run "$alg" "$alg-$d-defaults" "$s/train.tsv" "$s/test.tsv" "$d" --threads 2
    run "$alg" "$alg-$d-tune" "$s/train.tsv" "$s/test.tsv" "$d" --threads 2 --tune --tune-budget "$BUDGET"
  done
done
[ -n "${NO_COUNTS:-}" ] && exit 0

# generated play counts
"$TR" demo-data --counts --dir "$OUT/counts" >/dev/null 2>"$OUT/counts.err"
"$PY" "$HERE/count_split.py" "$OUT/counts/plays.tsv" "$OUT/counts/split" 42
C=$OUT/counts/split
for conf in binary linear log bm25 auto; do
  run als "counts-$conf" "$C/train.tsv" "$C/test.tsv" "demo-data --counts" --threads 2 --confidence "$conf"
done
CPU[counts-defaults]=${CPU[counts-auto]}
run als "counts-tune" "$C/train.tsv" "$C/test.tsv" "demo-data --counts" --threads 2 --tune --tune-budget "$BUDGET"
grep -h '^als: weights\|^als: confidence' "$OUT/counts-auto.err" >&2
