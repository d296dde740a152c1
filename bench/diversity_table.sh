#!/usr/bin/env bash
# diversity_table.sh - issue #16's accuracy-against-diversity table: ALS
# (64 factors, encore-train's defaults otherwise) on the positives (rating
# >= 4) of each user's first 80% by time (bench/experiment_sim.py prepare),
# evaluated on the last 20% at k = 10 by encore-train eval with re-ranking at
# diversity 0 / 0.2 / 0.5, then ALS trained with --pop-penalty 0.5 (IPW of
# the weights) at diversity 0; popularity (eval's reference) last.
# With --curve: the trade-off curve instead, each diversity's change relative
# to diversity 0 (NDCG@10 against intra-list diversity and long tail), with
# a paired bootstrap interval of the NDCG change (bench/ndcg_paired_ci.py);
# DIVERSITIES="0 0.1 ..." sets the curve's points (the first must be 0), and
# BUILD_DIR another build's encore-train (an older re-ranking, side by side).
#   bench/diversity_table.sh [--curve] [ml-100k] [ml-latest-small]    (markdown on stdout)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${BUILD_DIR:-$root/build}
shared=${ENCORE_SHARED:-$root/../shared}
[ -d "$shared/datasets" ] || shared=/work/shared
py=/usr/bin/python3
T=$(mktemp -d /tmp/encore-divtab.XXXXXX)
trap 'rm -rf "$T"' EXIT
curve=0
[ "${1:-}" = --curve ] && { curve=1; shift; }
if [ $curve = 1 ]; then
  echo "| data set | diversity | NDCG@10 (change [paired bootstrap 95%]) | ILD (factors) | ILD (genres) | long-tail share | coverage |"
  echo "|---|---|---|---|---|---|---|"
else
  echo "| data set | model | NDCG@10 | HR@10 | ILD (genres) | ILD (factors) | ARP | long-tail share | coverage | Gini |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
fi
for ds in "${@:-ml-100k ml-latest-small}"; do
  for one in $ds; do
    case "$one" in ml-100k) kind=udata ;; ml-latest-small) kind=ratings-csv ;; *) exit 2 ;; esac
    d=$T/$one
    $py "$here/experiment_sim.py" prepare "$shared/datasets/$one" "$kind" "$d" 2>/dev/null
    items=$shared/datasets/$one/u.item
    [ "$one" = ml-latest-small ] && items=$shared/datasets/$one/movies.csv
    "$build/encore-train" als --interactions "$d/train.tsv" --format tsv --items "$items" \
      --factors 64 --out "$d/repo/als" >/dev/null 2>&1
    if [ $curve = 1 ]; then
      for div in ${DIVERSITIES:-0 0.1 0.2 0.25 0.3 0.35 0.4 0.45 0.5 0.6 0.8}; do
        "$build/encore-train" eval --model "$d/repo/als" --train "$d/train.tsv" --test "$d/test.tsv" \
          --diversity "$div" --lists "$d/lists-$div.tsv" 2>/dev/null >"$d/eval-$div.json"
        $py "$here/ndcg_paired_ci.py" "$d/test.tsv" "$d/lists-0.tsv" "$d/lists-$div.tsv" >"$d/ci.json"
        $py - "$one" "$div" "$d/eval-0.json" "$d/eval-$div.json" "$d/ci.json" <<'EOF'
import json, sys
ds, div, base, path, ci = sys.argv[1:]
b, m, c = json.load(open(base))["model"], json.load(open(path))["model"], json.load(open(ci))
rel = lambda k: f"{m[k]:.4f} ({100 * (m[k] / b[k] - 1):+.1f}%)"
print(f"| {ds} | {div} | {rel('ndcg')} [{100 * c['rel_lo']:+.1f}%, {100 * c['rel_hi']:+.1f}%] | "
      f"{rel('ild_factors')} | {rel('ild')} | {rel('long_tail')} | {rel('coverage')} |")
EOF
      done
      continue
    fi
    "$build/encore-train" als --interactions "$d/train.tsv" --format tsv --items "$items" \
      --factors 64 --pop-penalty 0.5 --out "$d/repo/ipw" >/dev/null 2>&1
    for run in "als 0" "als 0.2" "als 0.5" "ipw 0"; do
      set -- $run
      "$build/encore-train" eval --model "$d/repo/$1" --train "$d/train.tsv" --test "$d/test.tsv" \
        --diversity "$2" 2>/dev/null >"$d/eval.json"
      $py - "$one" "$1" "$2" "$d/eval.json" <<'EOF'
import json, sys
ds, name, div, path = sys.argv[1:]
j = json.load(open(path))
def row(label, m):
    print(f"| {ds} | {label} | {m['ndcg']:.4f} | {m['hit_rate']:.4f} | {m['ild']:.4f} | "
          f"{m['ild_factors']:.4f} | {m['arp']:.1f} | {m['long_tail']:.4f} | {m['coverage']:.4f} | "
          f"{m['gini']:.4f} |")
row("ALS, diversity " + div if name == "als" else "ALS --pop-penalty 0.5", j["model"])
if name == "ipw":
    row("popularity", j["popularity"])
EOF
    done
  done
done
