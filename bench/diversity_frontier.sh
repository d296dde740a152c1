#!/usr/bin/env bash
# diversity_frontier.sh - issue #16: which re-ranking buys intra-list
# diversity for the least NDCG@10, compared at the same ILD gain (not at the
# same knob value). Per data set: the split of bench/diversity_table.sh, ALS
# (64 factors) trained with five seeds (42 = the table's model, 1-4), and
# bench/diversity_frontier.py's numpy replica of the re-ranking variants over
# a grid of diversity values, averaged over the seeds. The replica is first
# checked against encore-train eval (this build's re-ranking) on every model.
#   bench/diversity_frontier.sh [ml-100k] [ml-latest-small]    (markdown on stdout)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${BUILD_DIR:-$root/build}
shared=${ENCORE_SHARED:-$root/../shared}
[ -d "$shared/datasets" ] || shared=/work/shared
py=/usr/bin/python3
T=$(mktemp -d /tmp/encore-divfront.XXXXXX)
trap 'rm -rf "$T"' EXIT
echo "| data set | variant | at 0.2: NDCG / ILD / long tail | NDCG at ILD +10% (d) | at ILD +20% (d) | at ILD +30% (d) |"
echo "|---|---|---|---|---|---|"
for one in ${@:-ml-100k ml-latest-small}; do
  case "$one" in ml-100k) kind=udata ;; ml-latest-small) kind=ratings-csv ;; *) exit 2 ;; esac
  d=$T/$one
  $py "$here/experiment_sim.py" prepare "$shared/datasets/$one" "$kind" "$d" 2>/dev/null
  items=$shared/datasets/$one/u.item
  [ "$one" = ml-latest-small ] && items=$shared/datasets/$one/movies.csv
  for seed in 42 1 2 3 4; do
    "$build/encore-train" als --interactions "$d/train.tsv" --format tsv --items "$items" \
      --factors 64 --seed $seed --out "$d/repo/s$seed" >/dev/null 2>&1
    "$build/encore-train" eval --model "$d/repo/s$seed" --train "$d/train.tsv" --test "$d/test.tsv" \
      --diversity 0.2 2>/dev/null >"$d/check-s$seed.json"
  done
  $py "$here/diversity_frontier.py" "$d" s42 s1 s2 s3 s4 | sed "s/^| /| $one | /"
done
