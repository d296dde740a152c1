#!/usr/bin/env bash
# diversity_table.sh - issue #16's accuracy-against-diversity table: ALS
# (64 factors, encore-train's defaults otherwise) on the positives (rating
# >= 4) of each user's first 80% by time (bench/experiment_sim.py prepare),
# evaluated on the last 20% at k = 10 by encore-train eval with re-ranking at
# diversity 0 / 0.2 / 0.5, then ALS trained with --pop-penalty 0.5 (IPW of
# the weights) at diversity 0; popularity (eval's reference) last.
#   bench/diversity_table.sh [ml-100k] [ml-latest-small]    (markdown on stdout)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${BUILD_DIR:-$root/build}
shared=${ENCORE_SHARED:-$root/../shared}
[ -d "$shared/datasets" ] || shared=/work/shared
py=/usr/bin/python3
T=$(mktemp -d /tmp/encore-divtab.XXXXXX)
trap 'rm -rf "$T"' EXIT
echo "| data set | model | NDCG@10 | HR@10 | ILD (genres) | ILD (factors) | ARP | long-tail share | coverage | Gini |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for ds in "${@:-ml-100k ml-latest-small}"; do
  for one in $ds; do
    case "$one" in ml-100k) kind=udata ;; ml-latest-small) kind=ratings-csv ;; *) exit 2 ;; esac
    d=$T/$one
    $py "$here/experiment_sim.py" prepare "$shared/datasets/$one" "$kind" "$d" 2>/dev/null
    items=$shared/datasets/$one/u.item
    [ "$one" = ml-latest-small ] && items=$shared/datasets/$one/movies.csv
    "$build/encore-train" als --interactions "$d/train.tsv" --format tsv --items "$items" \
      --factors 64 --out "$d/repo/als" >/dev/null 2>&1
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
