#!/usr/bin/env bash
# Grid search for encore-train als hyperparameters on a validation split
# carved from train.tsv (bench/carve_validation.py): train on fit.tsv, score
# NDCG@10 on valid.tsv. test.tsv is never read here.
#
# usage: bench/als_tune.sh BUILD_DIR VAL_DIR "FACTORS" "REGS" "ALPHAS" "ITERS" "WEIGHTINGS" [extra als args]
# prints: factors reg alpha iters weighting ndcg seconds
set -euo pipefail
bin=$1/encore-train; val=$2
shift 2
factors=$1 regs=$2 alphas=$3 iters=$4 weightings=$5
shift 5
for f in $factors; do for r in $regs; do for a in $alphas; do for it in $iters; do for w in $weightings; do
  out=$("$bin" als --interactions "$val/fit.tsv" --validation "$val/valid.tsv" --dry-run \
        --factors "$f" --regularization "$r" --alpha "$a" --iterations "$it" --weighting "$w" "$@" 2>&1)
  ndcg=$(sed -n 's/^validation: {"model":{[^}]*"ndcg":\([0-9.e-]*\).*/\1/p' <<<"$out")
  secs=$(sed -n 's/^als: trained .* in \([0-9.]*\) s.*/\1/p' <<<"$out")
  echo "$f $r $a $it $w $ndcg $secs"
done; done; done; done; done
