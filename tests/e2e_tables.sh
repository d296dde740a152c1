#!/bin/bash
# e2e_tables.sh - encore-train forest / linear / eval on the iris fixture:
# training, held-out eval JSON, --kfold, determinism across threads, and the
# exit codes and messages for bad CSV input and bad usage.
#   bash tests/e2e_tables.sh BUILD_DIR
set -u
build=${1:?usage: e2e_tables.sh BUILD_DIR}
src=${ENCORE_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
train=$build/encore-train
iris=$src/tests/data/iris
tmp=$(mktemp -d /tmp/encore-e2e-tables.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() {   # check DESCRIPTION COMMAND...: the command must succeed
    local what=$1; shift
    if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fail=1; fi
}
expect_exit() {   # expect_exit CODE PATTERN DESCRIPTION COMMAND...: exit code + stderr pattern
    local code=$1 pat=$2 what=$3; shift 3
    "$@" > /dev/null 2> "$tmp/err"
    local rc=$?
    if [ $rc -eq "$code" ] && grep -q -- "$pat" "$tmp/err"; then echo "ok   $what"
    else echo "FAIL $what (exit $rc, stderr: $(head -c 300 "$tmp/err"))"; fail=1; fi
}
jget() { /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }

check "forest trains" sh -c "'$train' forest --data '$iris/train.csv' --label species --out '$tmp/repo/f' --threads 2 > '$tmp/f.json' 2> '$tmp/f.err'"
check "forest reports OOB and importances" grep -q "out-of-bag accuracy 0\.[89]" "$tmp/f.err"
check "forest summary has importances" test "$(jget "$tmp/f.json" 'len(d["feature_importances"])')" = 4
check "forest eval" sh -c "'$train' eval --model '$tmp/repo/f' --data '$iris/test.csv' > '$tmp/fe.json'"
check "forest eval accuracy >= 0.85" test "$(jget "$tmp/fe.json" 'd["accuracy"] >= 0.85 and d["macro_f1"] >= 0.85')" = True
check "confusion is 3x3 over 30 rows" test "$(jget "$tmp/fe.json" 'sum(map(sum, d["confusion"]))')" = 30
check "labels listed" test "$(jget "$tmp/fe.json" 'd["labels"]')" = "['setosa', 'versicolor', 'virginica']"
check "forest kfold" sh -c "'$train' eval --model '$tmp/repo/f' --data '$iris/iris.csv' --kfold 5 > '$tmp/fk.json' 2>/dev/null"
check "kfold has 5 folds and a mean" test "$(jget "$tmp/fk.json" 'len(d["fold_accuracy"]) == 5 and d["accuracy_mean"] > 0.9')" = True
# same seed, 1 vs 2 threads: identical model data (same data_sha256)
"$train" forest --data "$iris/train.csv" --label species --out "$tmp/repo/f" --threads 1 > /dev/null 2>&1
h1=$(head -c 4096 "$tmp/repo/f/1/model.safetensors" | grep -ao '"data_sha256":"[0-9a-f]*"')
h2=$(head -c 4096 "$tmp/repo/f/2/model.safetensors" | grep -ao '"data_sha256":"[0-9a-f]*"')
check "forest identical for 1 and 2 threads" test -n "$h1" -a "$h1" = "$h2"

for loss in hinge squared_hinge logistic; do
    check "linear $loss trains" sh -c "'$train' linear --data '$iris/train.csv' --label species --loss $loss --out '$tmp/repo/l-$loss' > /dev/null 2>&1"
    check "linear $loss eval" sh -c "'$train' eval --model '$tmp/repo/l-$loss' --data '$iris/test.csv' > '$tmp/le.json'"
    check "linear $loss accuracy >= 0.8" test "$(jget "$tmp/le.json" 'd["accuracy"] >= 0.8')" = True
done
check "linear kfold reuses hyperparameters" sh -c "'$train' eval --model '$tmp/repo/l-logistic' --data '$iris/iris.csv' --kfold 3 > '$tmp/lk.json' 2>/dev/null"
check "linear kfold mean" test "$(jget "$tmp/lk.json" 'd["accuracy_mean"] > 0.85')" = True

# bad input: exit 1 naming file, line and column
printf 'sepal_length,sepal_width,petal_length,petal_width,species\n5.1,3.5,1.4,0.2,setosa\n4.9,x,1.4,0.2,setosa\n' > "$tmp/bad1.csv"
expect_exit 1 "bad1.csv:3: column 2 (sepal_width): 'x' is not a number" "non-numeric value" \
    "$train" forest --data "$tmp/bad1.csv" --label species --out "$tmp/repo/x"
printf 'a,b,species\n1,2,s\n1,,s\n' > "$tmp/bad2.csv"
expect_exit 1 "bad2.csv:3: column 2 (b): missing value" "missing value" \
    "$train" linear --data "$tmp/bad2.csv" --label species --out "$tmp/repo/x"
printf 'a,b,species\n1,2,s\n1,2\n' > "$tmp/bad3.csv"
expect_exit 1 "bad3.csv:3: ragged row" "ragged row" \
    "$train" forest --data "$tmp/bad3.csv" --label species --out "$tmp/repo/x"
printf 'sepal_length,sepal_width,petal_length,petal_width,species\n5.1,3.5,1.4,0.2,rose\n' > "$tmp/bad4.csv"
expect_exit 1 "label 'rose' is not one of the model's 3 classes" "eval: unknown class" \
    "$train" eval --model "$tmp/repo/f" --data "$tmp/bad4.csv"
expect_exit 1 "no column named 'sepal_length'" "eval: missing feature column" \
    "$train" eval --model "$tmp/repo/f" --data "$tmp/bad2.csv" --label species
expect_exit 2 "--label COLUMN is required" "usage: no --label" \
    "$train" forest --data "$iris/train.csv" --out "$tmp/repo/x"
expect_exit 2 "not hinge, squared_hinge or logistic" "usage: bad --loss" \
    "$train" linear --data "$iris/train.csv" --label species --loss svm --out "$tmp/repo/x"
expect_exit 2 "outside" "usage: --trees 0" \
    "$train" forest --data "$iris/train.csv" --label species --trees 0 --out "$tmp/repo/x"
expect_exit 1 "cannot open" "missing file" \
    "$train" forest --data "$tmp/nope.csv" --label species --out "$tmp/repo/x"
exit $fail
