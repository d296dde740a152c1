#!/usr/bin/env bash
# e2e_train.sh - encore-train demo-data / als / bpr / eval from the command line:
# the files they write, the JSON eval prints, versions, reproducibility, and the
# exit status and message for bad input (1, naming FILE:LINE and the problem) and
# bad usage (2). Trains only on the small synthetic demo data (a few seconds).
#
# Usage: tests/e2e_train.sh BUILD_DIR     (ctest passes it)
set -euo pipefail

BUILD=${1:?usage: e2e_train.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
BIN=$BUILD/encore-train
[ -x "$BIN" ] || { echo "e2e_train: FAIL: $BIN not built"; exit 1; }
T=$(mktemp -d /tmp/encore-e2e-train.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "e2e_train: FAIL: $*"; exit 1; }

# expect STATUS PATTERN cmd...: run, check exit status and that stderr matches
expect() {
  local want=$1 pat=$2
  shift 2
  local rc=0
  "$@" >"$T/out" 2>"$T/err" || rc=$?
  [ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want: $(cat "$T/err")"
  grep -q -- "$pat" "$T/err" || fail "'$*' stderr lacks '$pat': $(cat "$T/err")"
}

# --- demo data: deterministic, structured
"$BIN" demo-data --dir "$T/demo" --users 300 --items 120 >/dev/null 2>&1
"$BIN" demo-data --dir "$T/demo2" --users 300 --items 120 >/dev/null 2>&1
cmp -s "$T/demo/interactions.tsv" "$T/demo2/interactions.tsv" || fail "demo-data is not deterministic"
cmp -s "$T/demo/items.csv" "$T/demo2/items.csv" || fail "demo-data items are not deterministic"
head -1 "$T/demo/items.csv" | grep -qx 'itemId,title,genres' || fail "items.csv header"
[ "$(wc -l <"$T/demo/items.csv")" = 121 ] || fail "items.csv should have 120 items"
# hold out every 5th line as a test set
awk 'NR % 5 == 0' "$T/demo/interactions.tsv" >"$T/test.tsv"
awk 'NR % 5 != 0' "$T/demo/interactions.tsv" >"$T/train.tsv"

# --- als: publish, versions, eval JSON
out=$("$BIN" als --interactions "$T/train.tsv" --items "$T/demo/items.csv" --out "$T/repo/demo" \
      --factors 16 --iterations 5 --regularization 2 --alpha 4 2>"$T/als.err")
[ "$out" = "$T/repo/demo/1" ] || fail "als printed '$out'"
[ -f "$T/repo/demo/1/model.safetensors" ] || fail "no model file"
grep -q '^als: iteration 5/5 .* s  loss ' "$T/als.err" || fail "no per-iteration progress"
out=$("$BIN" als --interactions "$T/train.tsv" --out "$T/repo/demo" --factors 16 --iterations 5 \
      --regularization 2 --alpha 4 2>/dev/null)
[ "$out" = "$T/repo/demo/2" ] || fail "second version is '$out'"
expect 1 "exists" "$BIN" als --interactions "$T/train.tsv" --out "$T/repo/demo" --version 1 \
  --factors 4 --iterations 1
ev=$("$BIN" eval --model "$T/repo/demo" --train "$T/train.tsv" --test "$T/test.tsv" --k 10 2>/dev/null)
for key in precision recall ndcg map hit_rate coverage; do
  echo "$ev" | grep -q "\"model\":{[^}]*\"$key\":" || fail "eval JSON lacks model.$key: $ev"
  echo "$ev" | grep -q "\"popularity\":{[^}]*\"$key\":" || fail "eval JSON lacks popularity.$key"
done
echo "$ev" | grep -q '"k":10' || fail "eval JSON lacks k"
# the model must beat popularity on data with taste structure
m=$(echo "$ev" | sed 's/.*"model":{[^}]*"ndcg":\([0-9.e-]*\).*/\1/')
p=$(echo "$ev" | sed 's/.*"popularity":{[^}]*"ndcg":\([0-9.e-]*\).*/\1/')
awk -v m="$m" -v p="$p" 'BEGIN { exit !(m > p + 0.05) }' || fail "ALS ndcg $m not above popularity $p"
# same seed, same factors: versions 1 and 2 evaluate identically
ev1=$("$BIN" eval --model "$T/repo/demo/1" --train "$T/train.tsv" --test "$T/test.tsv" 2>/dev/null)
ev2=$("$BIN" eval --model "$T/repo/demo/2" --train "$T/train.tsv" --test "$T/test.tsv" 2>/dev/null)
[ "$ev1" = "$ev2" ] || fail "same seed gave different models: $ev1 vs $ev2"

# --- bpr writes the same kind of model
out=$("$BIN" bpr --interactions "$T/train.tsv" --out "$T/repo/bpr" --factors 8 --epochs 5 2>/dev/null)
[ "$out" = "$T/repo/bpr/1" ] || fail "bpr printed '$out'"
"$BIN" eval --model "$T/repo/bpr" --train "$T/train.tsv" --test "$T/test.tsv" 2>/dev/null | grep -q '"users":' \
  || fail "bpr model does not evaluate"

# --- bad input: exit 1 with FILE:LINE: problem
printf '1\t2\t5\t881250949\n1\t3\n' >"$T/bad.data"
expect 1 "bad.data:2: expected 4 TAB-separated fields" "$BIN" als --interactions "$T/bad.data" --out "$T/repo/x"
printf 'userId,movieId,rating,timestamp\n1,2,x,3\n' >"$T/bad.csv"
expect 1 "bad.csv:2: rating 'x' is not a number" "$BIN" als --interactions "$T/bad.csv" --out "$T/repo/x"
: >"$T/empty.tsv"
expect 1 "empty.tsv: empty file" "$BIN" als --interactions "$T/empty.tsv" --out "$T/repo/x"
expect 1 "missing.tsv: cannot open" "$BIN" als --interactions "$T/missing.tsv" --out "$T/repo/x"
printf 'a\tb\t1\n' >"$T/one.tsv"
expect 1 "no interactions left after --min-rating" "$BIN" als --interactions "$T/one.tsv" --min-rating 2 --out "$T/repo/x"
printf '1|A|||u|0|0\n' >"$T/u.item"
expect 1 "u.item:1: expected 24" "$BIN" als --interactions "$T/train.tsv" --items "$T/u.item" --out "$T/repo/x" --iterations 1
expect 1 "cannot detect the format" "$BIN" bpr --interactions <(echo word) --out "$T/repo/x"
expect 1 "" "$BIN" eval --model "$T/repo/none" --train "$T/train.tsv" --test "$T/test.tsv"
# --- bad usage: exit 2
expect 2 "unknown format 'xml'" "$BIN" als --interactions "$T/train.tsv" --out "$T/repo/x" --format xml
expect 2 "'qr' is not cg or cholesky" "$BIN" als --interactions "$T/train.tsv" --out "$T/repo/x" --solver qr
expect 2 "--factors" "$BIN" als --interactions "$T/train.tsv" --out "$T/repo/x" --factors 0
expect 2 "--out is required" "$BIN" als --interactions "$T/train.tsv"
expect 2 "--interactions is required" "$BIN" bpr --out "$T/repo/x"
expect 2 "--test is required" "$BIN" eval --model "$T/repo/demo" --train "$T/train.tsv"
"$BIN" als --help | grep -q -- '--regularization' || fail "als --help"
echo "e2e_train: OK"
