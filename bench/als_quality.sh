#!/usr/bin/env bash
# Recommendation quality and ALS training time on the shared MovieLens splits.
#
#   bench/als_quality.sh [BUILD_DIR] [OUT_MD]
#
# For ml-100k and ml-latest-small (shared/datasets/*/splits, user<TAB>item,
# ratings >= 4 as positives):
#   - encore-train als with its defaults (chosen on validation splits carved
#     from train.tsv, see docs/training.md), evaluated with encore-train eval
#     (the served model file, model_load + mf_recommend) at k = 10;
#   - the same with the exact Cholesky solver, and encore-train bpr;
#   - bench/als_numpy_ref.py: an independent exact ALS in numpy at the same
#     hyperparameters (1 BLAS thread), same metric definition;
#   - ALS fit time with 2 threads: 5 runs, min and median of the fit time
#     encore-train reports, plus the whole process's wall time.
# The `implicit` library is not packaged for Debian 12 (no python3-implicit),
# so its 0.59 s / 0.305 figures from issue #2 are quoted, not re-measured.
# Results go to OUT_MD (default bench/results/recommend-quality.md).
# NUMPY=0 skips the (slow, ~1-2 min) numpy reference.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${1:-$root/build}
out=${2:-$root/bench/results/recommend-quality.md}
bin=$build/encore-train
shared=${ENCORE_SHARED:-$root/../shared}
ds_dir=$shared/datasets
py=/usr/bin/python3
[ -x "$bin" ] || { echo "no $bin (build first)" >&2; exit 1; }
[ -d "$ds_dir/ml-100k/splits" ] || { echo "no shared datasets at $ds_dir" >&2; exit 1; }
tmp=$(mktemp -d /tmp/encore-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

meta_for() {   # item metadata beside a split
  case $1 in ml-100k) echo "$ds_dir/ml-100k/u.item" ;; *) echo "$ds_dir/$1/movies.csv" ;; esac
}

declare -A res
for ds in ml-100k ml-latest-small; do
  s=$ds_dir/$ds/splits
  echo "== $ds" >&2
  "$bin" als --interactions "$s/train.tsv" --items "$(meta_for $ds)" --out "$tmp/repo/$ds-als" \
    --threads 2 2>"$tmp/$ds-als.log" >/dev/null
  res[$ds-als]=$("$bin" eval --model "$tmp/repo/$ds-als" --train "$s/train.tsv" --test "$s/test.tsv" --k 10 2>/dev/null)
  "$bin" als --interactions "$s/train.tsv" --out "$tmp/repo/$ds-chol" --solver cholesky \
    --threads 2 2>"$tmp/$ds-chol.log" >/dev/null
  res[$ds-chol]=$("$bin" eval --model "$tmp/repo/$ds-chol" --train "$s/train.tsv" --test "$s/test.tsv" 2>/dev/null)
  "$bin" bpr --interactions "$s/train.tsv" --out "$tmp/repo/$ds-bpr" --threads 2 2>"$tmp/$ds-bpr.log" >/dev/null
  res[$ds-bpr]=$("$bin" eval --model "$tmp/repo/$ds-bpr" --train "$s/train.tsv" --test "$s/test.tsv" 2>/dev/null)
  if [ "${NUMPY:-1}" = 1 ]; then
    res[$ds-numpy]=$(OPENBLAS_NUM_THREADS=1 $py "$here/als_numpy_ref.py" "$s/train.tsv" "$s/test.tsv" 128 25 4 10 0.5 0)
  else
    res[$ds-numpy]='{"ndcg": "not run", "fit_seconds": "not run"}'
  fi
  # timing: 5 runs, 2 threads, no publishing
  : >"$tmp/$ds-times"
  for i in 1 2 3 4 5; do
    /usr/bin/time -f "TIME %e %U %S" -o "$tmp/time" \
      "$bin" als --interactions "$s/train.tsv" --dry-run --threads 2 2>"$tmp/run.log" >/dev/null
    fit=$(sed -n 's/^als: trained .* in \([0-9.]*\) s.*/\1/p' "$tmp/run.log")
    read -r _ wall usr sys < <(grep TIME "$tmp/time")
    echo "$fit $wall $(echo "$usr + $sys" | bc)" >>"$tmp/$ds-times"
  done
  # seed spread (the in-process evaluator of --validation, same metric code)
  seeds=""
  for seed in 1 2 3 4; do
    v=$("$bin" als --interactions "$s/train.tsv" --validation "$s/test.tsv" --dry-run --seed $seed 2>&1 |
        sed -n 's/^validation: {"model":{[^}]*"ndcg":\([0-9.e-]*\).*/\1/p')
    seeds="$seeds $v"
  done
  res[$ds-seeds]=$seeds
  res[$ds-chol-time]=$(sed -n 's/^als: trained .* in \([0-9.]*\) s.*/\1/p' "$tmp/$ds-chol.log")
  res[$ds-bpr-time]=$(sed -n 's/^bpr: trained .* in \([0-9.]*\) s.*/\1/p' "$tmp/$ds-bpr.log")
done

m() { jq -r "$2" <<<"${res[$1]}"; }
stat() {  # min and median of column $2 of a times file
  sort -n -k"$2" "$1" | awk -v c="$2" '{v[NR]=$c} END{printf "%.3f / %.3f", v[1], v[int((NR+1)/2)]}'
}
{
  echo "# Recommendation quality and ALS training time"
  echo
  echo "Measured $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores (load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); the"
  echo "machine is shared with other jobs, so wall times are upper bounds). Command:"
  echo
  echo '    bench/als_quality.sh BUILD_DIR'
  echo
  echo "Every model figure below comes from \`encore-train eval --model DIR --train train.tsv --test test.tsv --k 10\`,"
  echo "i.e. from the saved model file loaded the way the server loads it. Defaults: \`encore-train als\` ="
  echo "128 factors, 10 iterations, regularization 25 scaled per row by (n/mean n)^0.5, alpha 4, CG (3 steps),"
  echo "seed 42; chosen on validation splits carved from train.tsv (docs/training.md), never on test.tsv."
  echo
  echo "## NDCG@10 (and the other metrics) on the shared splits"
  echo
  echo "| data set | model | NDCG@10 | precision | recall | MAP | hit rate | coverage |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  for ds in ml-100k ml-latest-small; do
    echo "| $ds | popularity | $(m $ds-als .popularity.ndcg) | $(m $ds-als .popularity.precision) | $(m $ds-als .popularity.recall) | $(m $ds-als .popularity.map) | $(m $ds-als .popularity.hit_rate) | $(m $ds-als .popularity.coverage) |"
    for v in als:"encore ALS (CG, defaults)" chol:"encore ALS (Cholesky)" bpr:"encore BPR (defaults)"; do
      k=${v%%:*}; name=${v#*:}
      echo "| $ds | $name | **$(m $ds-$k .model.ndcg)** | $(m $ds-$k .model.precision) | $(m $ds-$k .model.recall) | $(m $ds-$k .model.map) | $(m $ds-$k .model.hit_rate) | $(m $ds-$k .model.coverage) |"
    done
    echo "| $ds | numpy exact ALS, same hyperparameters (bench/als_numpy_ref.py) | $(m $ds-numpy .ndcg) | | | | | |"
  done
  echo
  echo "Side by side (same run): encore ALS / numpy exact ALS NDCG = $(echo "scale=3; $(m ml-100k-als .model.ndcg) / $(m ml-100k-numpy .ndcg)" | bc) (ml-100k),"
  echo "$(echo "scale=3; $(m ml-latest-small-als .model.ndcg) / $(m ml-latest-small-numpy .ndcg)" | bc) (ml-latest-small); encore ALS / popularity = $(echo "scale=2; $(m ml-100k-als .model.ndcg) / $(m ml-100k-als .popularity.ndcg)" | bc) and"
  echo "$(echo "scale=2; $(m ml-latest-small-als .model.ndcg) / $(m ml-latest-small-als .popularity.ndcg)" | bc)."
  echo
  echo "Seed spread of encore ALS (defaults, seeds 1 2 3 4; default seed 42 above): ml-100k${res[ml-100k-seeds]};"
  echo "ml-latest-small${res[ml-latest-small-seeds]}."
  echo
  echo "Issue #2 references on these splits: popularity 0.152 / 0.136; \`implicit\` ALS 0.305 (ml-100k); numpy exact ALS"
  echo "0.307 / 0.266. Goal: >= 0.31 (ml-100k) and >= 0.27 (ml-latest-small)."
  echo
  echo "## ALS training time (2 threads)"
  echo
  echo "| data set | fit time min / median of 5 (s) | whole process wall min / median (s) | whole process CPU user+sys min / median (s) | Cholesky fit (s) | BPR fit (s) | numpy exact ALS fit, 1 thread (s) |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  for ds in ml-100k ml-latest-small; do
    echo "| $ds | $(stat "$tmp/$ds-times" 1) | $(stat "$tmp/$ds-times" 2) | $(stat "$tmp/$ds-times" 3) | ${res[$ds-chol-time]} | ${res[$ds-bpr-time]} | $(m $ds-numpy .fit_seconds) |"
  done
  echo
  echo "The fit time is what \`encore-train als\` prints (\"trained ... in X s\"): the ALS iterations including the"
  echo "per-iteration loss, without reading the input or writing the file. CPU time (both threads together, whole"
  echo "process) is the contention-proof figure: with 2 idle cores the fit's wall time is about half of it."
  echo "Issue #2's reference: the \`implicit\`"
  echo "library takes 0.59 s on ml-100k with 2 threads (not re-measurable here: python3-implicit is not in Debian 12)."
  echo "Ratio of encore's ml-100k fit time to 0.59 s: min $(echo "scale=2; $(sort -n "$tmp/ml-100k-times" | awk '{v[NR]=$1} END{print v[1]}') / 0.59" | bc),"
  echo "median $(echo "scale=2; $(sort -n "$tmp/ml-100k-times" | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}') / 0.59" | bc)."
} >"$out"
echo "wrote $out" >&2
