#!/bin/bash
# table_accuracy.sh - Encore forest / linear vs scikit-learn on the tables
# Debian's python3-sklearn ships (iris, wine, breast_cancer, digits).
#
#   bench/table_accuracy.sh [BUILD_DIR] [OUT_DIR]
#
# 1. bench/table_sklearn_ref.py prepare: fixed split / fold index files in
#    bench/splits/, plain CSVs of them in OUT_DIR, scikit-learn's accuracies,
#    CV means and timings (OUT_DIR/sklearn.json).
# 2. For each data set and model: encore-train on the 80/20 train part, eval
#    on the test part (with --bench timings), train + eval on each of the same
#    5 folds, and `eval --kfold 5` (Encore's own stratified folds).
# 3. report: bench/results/tables.md.
# Needs python3-sklearn (apt-get install -y python3-sklearn).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
out=${2:-/tmp/encore-table-bench}
train=$build/encore-train
py=/usr/bin/python3
[ -x "$train" ] || { echo "no $train (build encore-train first)" >&2; exit 1; }
rm -rf "$out/enc" "$out/repo"
mkdir -p "$out/enc" "$out/repo"
date -u +%Y-%m-%dT%H:%MZ > "$out/enc/date"
cut -d' ' -f1-3 /proc/loadavg > "$out/enc/load"
# One BLAS thread on both sides: Encore predicts one request per thread.
export OPENBLAS_NUM_THREADS=1

$py "$here/table_sklearn_ref.py" prepare "$out"

fit() {   # fit MODEL TRAIN.csv REPO/NAME
    local m=$1 data=$2 dst=$3
    case $m in
    forest) "$train" forest --data "$data" --label label --out "$dst" --trees 100 --seed ${seed:-42} ;;
    hinge) # LIBLINEAR's L1-loss dual converges slowly: 10000 epochs, as the sklearn side
        "$train" linear --data "$data" --label label --loss hinge --epochs 10000 --out "$dst" ;;
    *) "$train" linear --data "$data" --label label --loss "$m" --out "$dst" ;;
    esac
}

for ds in iris wine breast_cancer digits; do
    for m in forest hinge squared_hinge logistic; do
        name=$ds-$m
        fit $m "$out/$ds.train.csv" "$out/repo/$name" > "$out/enc/$ds.$m.train.json" 2>/dev/null
        bench=
        [ $m = squared_hinge ] || bench=--bench
        "$train" eval --model "$out/repo/$name" --data "$out/$ds.test.csv" $bench \
            > "$out/enc/$ds.$m.test.json"
        for k in 0 1 2 3 4; do
            fit $m "$out/$ds.fold$k.train.csv" "$out/repo/$name-f$k" > /dev/null 2>&1
            "$train" eval --model "$out/repo/$name-f$k" --data "$out/$ds.fold$k.test.csv" \
                > "$out/enc/$ds.$m.fold$k.json"
        done
        "$train" eval --model "$out/repo/$name" --data "$out/$ds.all.csv" --kfold 5 \
            > "$out/enc/$ds.$m.kfold.json" 2>/dev/null
        fit $m "$out/$ds.u.train.csv" "$out/repo/$name-u" > /dev/null 2>&1
        "$train" eval --model "$out/repo/$name-u" --data "$out/$ds.u.test.csv" > "$out/enc/$ds.$m.u.json"
        if [ $m = forest ]; then
            for seed in 1 2 3 4 5; do
                for k in 0 1 2 3 4; do
                    seed=$seed fit forest "$out/$ds.fold$k.train.csv" "$out/repo/$name-s$seed-f$k" \
                        > /dev/null 2>&1
                    "$train" eval --model "$out/repo/$name-s$seed-f$k" \
                        --data "$out/$ds.fold$k.test.csv" > "$out/enc/$ds.forest.s$seed.fold$k.json"
                done
            done
        fi
        printf 'encore  %-14s %-14s acc %s\n' $ds $m \
            "$(grep -m1 '"accuracy"' "$out/enc/$ds.$m.test.json" | tr -d ' ,')" >&2
    done
done

mkdir -p "$here/results"
$py "$here/table_sklearn_ref.py" report "$out" "$here/results/tables.md"
echo "wrote $here/results/tables.md" >&2
