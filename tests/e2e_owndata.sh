#!/usr/bin/env bash
# e2e_owndata.sh - a new user's own data, end to end (issue #19): generated
# play counts (demo-data --counts) with a header and an artist file; the
# trainer's summary of the weights and the confidence it chose; BPR saying how
# it samples; item files of each kind (named, numbered, latin-1, undetectable);
# eval and --validation refusing overlapping train/test pairs; --tune on a
# small fixture (its table stored, the same for the same seed, shown by
# GET /v1/models/{name}); the popular fallback's scores in [0, 1] and
# "unknown_history"; text read as text<TAB>label and cp1252 input served from
# UTF-8 requests. Small data only: a few seconds of training in all.
#
# Usage: tests/e2e_owndata.sh BUILD_DIR     (ctest passes it)
set -euo pipefail
BUILD=${1:?usage: e2e_owndata.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
. "$(dirname "$0")/lib/e2e.sh"
e2e_init "$BUILD"
TR=$BUILD/encore-train

# run STATUS NAME cmd...: run, keep stderr in $ERR and stdout in $OUT, check the status
run() {
  local want=$1 name=$2 rc=0
  shift 2
  "$@" >"$T/out" 2>"$T/err" || rc=$?
  OUT=$(cat "$T/out")
  ERR=$(cat "$T/err")
  check "$name: exit status" "$want" "$rc"
}

# hyper MODEL_FILE EXPR: a Python expression on the model's hyperparameters (h)
hyper() {
  "$PY" - "$1" "$2" <<'EOF'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    h = json.loads(json.loads(f.read(n))["__metadata__"]["hyperparameters"])
v = eval(sys.argv[2])
print(" ".join(map(str, v)) if isinstance(v, tuple) else v)
EOF
}

# ---- generated play counts: deterministic, a header, heavy-tailed
run 0 "demo-data counts" "$TR" demo-data --counts --dir "$T/c" --users 300 --items 400 --mean-interactions 25
run 0 "demo-data counts again" "$TR" demo-data --counts --dir "$T/c2" --users 300 --items 400 --mean-interactions 25
check "counts deterministic" same "$(cmp -s "$T/c/plays.tsv" "$T/c2/plays.tsv" && echo same)"
check "plays header" "user_id	artist_id	plays" "$(head -1 "$T/c/plays.tsv")"
check "artists header" "id	name	url	pictureURL" "$(head -1 "$T/c/artists.tsv")"
max=$(awk -F'\t' 'NR > 1 && $3 > m { m = $3 } END { print m }' "$T/c/plays.tsv")
check "counts heavy-tailed" 1 "$(awk -v m="$max" 'BEGIN { print (m > 1000) }')"

# ---- what the trainer read and what it does with it
run 0 "als on counts" "$TR" als --interactions "$T/c/plays.tsv" --items "$T/c/artists.tsv" \
  --out "$T/repo/plays" --factors 8 --iterations 3
check_contains "header reported" "line 1 is a header (user_id, artist_id, plays): skipped" "$ERR"
check_contains "weights summarised" "weights of the" "$ERR"
check_contains "weights spread" "median" "$ERR"
check_contains "automatic confidence" "confidence (automatic): max / median" "$ERR"
check_contains "heavy tail: not linear" "heavy-tailed counts: binary" "$ERR"
check_contains "the reason said whole" "--tune compares); --confidence binary" "$ERR"
check_contains "artist file read" "artists.tsv: tsv with a header, UTF-8: id = column 1 (id), title = column 2 (name), tags = none" "$ERR"
MF=$T/repo/plays/1/model.safetensors
check "scheme stored" "binary True" "$(hyper "$MF" 'h["confidence"]["scheme"], h["confidence"]["auto"]')"
run 0 "als --confidence log" "$TR" als --interactions "$T/c/plays.tsv" --confidence log --dry-run \
  --factors 8 --iterations 2
check_contains "log formula" "confidence log (--confidence): c = 1 + alpha * log(1 + w / " "$ERR"
run 0 "als --confidence linear" "$TR" als --interactions "$T/c/plays.tsv" --confidence linear \
  --dry-run --factors 8 --iterations 2
check_contains "linear on heavy tails warned" "warning: linear confidence on heavy-tailed weights" "$ERR"
run 2 "bad --confidence" "$TR" als --interactions "$T/c/plays.tsv" --confidence squared --dry-run
check_contains "choices named" "is not auto, binary, linear, log, bm25 or tfidf" "$ERR"
run 0 "bpr on counts" "$TR" bpr --interactions "$T/c/plays.tsv" --dry-run --factors 8 --epochs 2
check_contains "bpr says it ignores the counts" "positives drawn uniformly (binary confidence" "$ERR"
run 0 "bpr by confidence" "$TR" bpr --interactions "$T/c/plays.tsv" --confidence log --dry-run \
  --factors 8 --epochs 2
check_contains "bpr samples by confidence" "drawn with probability proportional to their confidence" "$ERR"

# ---- item files of each kind
printf 'Title\tartist_id\tgenres\n' >"$T/named.tsv"
awk -F'\t' 'NR > 1 { print "Artist " $1 "\t" $1 "\tRock|Pop" }' "$T/c/artists.tsv" >>"$T/named.tsv"
run 0 "items named in any order" "$TR" als --interactions "$T/c/plays.tsv" --items "$T/named.tsv" \
  --dry-run --factors 4 --iterations 1
check_contains "named columns said" "id = column 2 (artist_id), title = column 1 (Title), tags = column 3 (genres)" "$ERR"
check_contains "tags read" ", 2 tags" "$ERR"
awk -F'\t' 'NR > 1 { printf "%s|x|Caf\351 %s\n", $1, $1 }' "$T/c/artists.tsv" >"$T/latin1.psv"
tr '|' '\t' <"$T/latin1.psv" >"$T/latin1.tsv"
run 0 "numbered latin-1 items" "$TR" als --interactions "$T/c/plays.tsv" --items "$T/latin1.tsv" \
  --items-format tsv --item-id-col 1 --title-col 3 --out "$T/repo/latin" --factors 4 --iterations 1
check_contains "latin-1 said" "without a header, latin-1 (converted to UTF-8): id = column 1, title = column 3" "$ERR"
awk -F'\t' 'NR > 1 { print $1 "\t" $2 }' "$T/c/artists.tsv" >"$T/anon.tsv"
run 1 "undetectable items" "$TR" als --interactions "$T/c/plays.tsv" --items "$T/anon.tsv" --dry-run \
  --factors 4 --iterations 1
check_contains "detection names what it tried" "cannot detect the item format: tried uitem" "$ERR"
check_contains "detection says what to give" "--item-id-col N --title-col N" "$ERR"

# ---- eval and --validation refuse overlapping pairs
"$PY" "$(dirname "$0")/../bench/count_split.py" "$T/c/plays.tsv" "$T/split" 42
run 0 "als on the split" "$TR" als --interactions "$T/split/train.tsv" --out "$T/repo/split" \
  --factors 8 --iterations 3
run 1 "eval overlap" "$TR" eval --model "$T/repo/split" --train "$T/split/train.tsv" --test "$T/split/train.tsv"
check_contains "overlap counted" "pairs of --test are also in --train" "$ERR"
check_contains "overlap way out" "--allow-overlap" "$ERR"
run 0 "eval --allow-overlap" "$TR" eval --model "$T/repo/split" --train "$T/split/train.tsv" \
  --test "$T/split/train.tsv" --allow-overlap
check_contains "overlap warned" "eval: warning:" "$ERR"
run 0 "eval disjoint" "$TR" eval --model "$T/repo/split" --train "$T/split/train.tsv" --test "$T/split/test.tsv"
check_contains "eval json" '"ndcg":' "$OUT"
sed 's/\t/\tz/' "$T/split/test.tsv" >"$T/foreign.tsv"
run 1 "eval ids that match nothing" "$TR" eval --model "$T/repo/split" --train "$T/split/train.tsv" \
  --test "$T/foreign.tsv"
check_contains "ids mismatch said" "the ids do not match" "$ERR"
run 1 "--validation overlap" "$TR" als --interactions "$T/split/train.tsv" --validation "$T/split/train.tsv" \
  --dry-run --factors 4 --iterations 1
check_contains "--validation overlap said" "pairs of --validation" "$ERR"

# ---- --tune: a small budget, its table stored, the same for the same seed
for n in 1 2; do
  run 0 "tune $n" "$TR" als --interactions "$T/split/train.tsv" --tune --tune-budget 5 \
    --factors 8 --iterations 3 --seed 7 --out "$T/repo/tuned"
done
check_contains "tune progress" "als tune: fit 2/5:" "$ERR"
check_contains "tune choice" "als tune: chose fit" "$ERR"
check_contains "tune cost said" "als tune: estimated cost" "$ERR"
T1=$T/repo/tuned/1/model.safetensors T2=$T/repo/tuned/2/model.safetensors
check "tune table stored" True "$(hyper "$T1" '2 <= h["tune"]["fits"] == len(h["tune"]["trials"]) <= 5')"
check "tune same seed, same table" "$(hyper "$T1" '[(t["ndcg"], t["alpha"]) for t in h["tune"]["trials"]]')" \
  "$(hyper "$T2" '[(t["ndcg"], t["alpha"]) for t in h["tune"]["trials"]]')"
check "tune never below its start" True "$(hyper "$T1" 'h["tune"]["best_ndcg"] >= h["tune"]["trials"][0]["ndcg"]')"
# the search and the final fit within the budget, in fits of the starting settings
check "tune cost within the budget" True \
  "$(hyper "$T1" '0 < h["tune"]["cost_search"] + h["tune"]["cost_final_fit"] <= h["tune"]["budget"]')"
# a move away from the start only on a significant paired gain (z > 1.645 at the least)
check "tune moves only on a significant gain" True \
  "$(hyper "$T1" 'h["tune"]["chosen"] == 1 or h["tune"]["trials"][h["tune"]["chosen"] - 1]["gain_z"] > 1.645')"
# budget 2: trial 1 and the final fit use it up; a second trial is skipped, not overrun
run 0 "tune budget 2" "$TR" als --interactions "$T/split/train.tsv" --tune --tune-budget 2 \
  --factors 8 --iterations 3 --seed 7 --dry-run
check_contains "tune skip said" "would pass the budget of 2 fits" "$ERR"
check_contains "tune budget 2: one fit" "chose fit 1 of 1:" "$ERR"
check "tune choice trained" True \
  "$(hyper "$T1" 'h["alpha"] == h["tune"]["trials"][h["tune"]["chosen"] - 1]["alpha"]')"

# ---- text: text<TAB>label, and cp1252 training input served from UTF-8
printf 'tr\350s bon film\nun film tr\350s dr\364le\ntr\350s beau \223superbe\224\n' >"$T/t.pos"
printf 'ennuyeux et long\nun film ennuyeux\nlong et plat\n' >"$T/t.neg"
run 0 "text on cp1252" "$TR" text --model nbsvm --pos "$T/t.pos" --neg "$T/t.neg" --out "$T/repo/reviews"
check_contains "cp1252 said" "not UTF-8: decoded as cp1252" "$ERR"
printf 'tr\303\250s bon\tpos\nennuyeux\tneg\nun film tr\303\250s beau\tpos\n' >"$T/eval.tsv"
run 0 "text eval text<TAB>label" "$TR" eval --model "$T/repo/reviews" --data "$T/eval.tsv"
check_contains "order said" "text<TAB>label, detected" "$ERR"
check_contains "utf-8 eval right" '"accuracy":1' "$OUT"

# ---- serving
e2e_start_server --models "$T/repo"
req GET /v1/models/tuned
check "model details" 200 "$STATUS"
check "tune shown" True "$(json '"trials" in j["hyperparameters"]["tune"] and "gain_z" in j["hyperparameters"]["tune"]["trials"][1]')"
req POST /v1/models/plays:recommend '{"user": "nobody", "k": 5}'
check "popular fallback" "200 popular" "$STATUS $(json 'j.get("fallback")')"
check "popular scores are shares in [0, 1]" True \
  "$(json 'all(0 < h["score"] <= 1 for h in j["items"]) and j["items"][0]["score"] >= j["items"][-1]["score"]')"
req POST /v1/models/plays:recommend '{"history": ["no-such-artist", "nor-this"], "k": 3}'
check "unknown history said" "200 2 popular" "$STATUS $(json 'j.get("unknown_history")') $(json 'j.get("source")')"
req POST /v1/models/plays:recommend '{"history": ["1", "no-such-artist"], "k": 3}'
check "partly unknown history" "200 1 history" "$STATUS $(json 'j.get("unknown_history")') $(json 'j.get("source")')"
req POST /v1/models/latin:recommend '{"user": "1", "k": 1}'
check "latin-1 title served as UTF-8" True "$(json 'j["items"][0]["title"].startswith("Caf\u00e9 ")')"
req POST /v1/models/reviews:predict '{"instances": ["tr\u00e8s"]}'
check "utf-8 request, trained tokens" True "$(json 'j["predictions"][0]["label"] == "pos"' 2>/dev/null)"
e2e_finish
