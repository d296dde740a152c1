#!/usr/bin/env bash
# e2e_cronjob.sh - the training CronJob's steps, as deploy/base/cronjob.yaml
# runs them (one encore-train command per container): demo-data, split, als
# into a scratch repository, gate against the live version, publish --keep.
# A candidate below the gate is not published; publishing prunes old
# versions but never the pinned one; the temp directories are unique.
set -u
source "$(dirname "$0")/lib/e2e.sh"
e2e_init "$1"
TR=$BUILD/encore-train
D=$T/data W=$T/work M=$T/models
mkdir -p "$W"
run_job() {  # SEED: the CronJob's five steps; returns the failing step's status
  "$TR" demo-data --dir "$D" >/dev/null 2>>"$T/log" &&
  "$TR" split --interactions "$D/interactions.tsv" --train "$W/train.tsv" --test "$W/test.tsv" \
      --fraction 0.1 2>>"$T/log" &&
  rm -rf "$W/candidate" &&
  "$TR" als --interactions "$W/train.tsv" --items "$D/items.csv" --out "$W/candidate/demo" \
      --factors "${FACTORS:-16}" --iterations 5 --seed "$1" >/dev/null 2>>"$T/log" &&
  "$TR" gate --model "$W/candidate/demo" --train "$W/train.tsv" --test "$W/test.tsv" --k 10 \
      --min-ndcg "${MIN_NDCG:-0.05}" --baseline "$M/demo" --tolerance 0.005 >"$T/gate.json" 2>>"$T/log" &&
  "$TR" publish --model "$W/candidate/demo/1" --out "$M/demo" --keep 3 >/dev/null 2>>"$T/log"
}
run_job 1; check "first run publishes (no live version yet)" 0 $?
check "version 1" yes "$([ -f "$M/demo/1/model.safetensors" ] && echo yes)"
check "split: test lines held out" 1 "$([ -s "$W/test.tsv" ] && echo 1)"
n_all=$(wc -l < "$D/interactions.tsv"); n_tr=$(wc -l < "$W/train.tsv"); n_te=$(wc -l < "$W/test.tsv")
check "split: every line in one file" "$n_all" "$((n_tr + n_te))"
ndcg=$(json_of() { "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['ndcg'])" "$1"; }; json_of "$T/gate.json")
echo "demo NDCG@10 on the held-out slice: $ndcg"
check "demo model clears the manifests' --min-ndcg 0.05" 1 "$("$PY" -c "print(int($ndcg >= 0.05))")"
for s in 2 3 4; do run_job $s || { cat "$T/log"; break; }; done
check "publish --keep 3 prunes" "2 3 4" "$(ls "$M/demo" | grep -E '^[0-9]+$' | sort -n | xargs)"
"$TR" pin --out "$M/demo" --version 2 2>>"$T/log"
run_job 5; check "fifth run" 0 $?
check "pruning keeps the 3 highest and the pinned one" "2 3 4 5" "$(ls "$M/demo" | grep -E '^[0-9]+$' | sort -n | xargs)"
MIN_NDCG=0.99 FACTORS=1 run_job 6 2>/dev/null
check "candidate worse than the live one and below the bar: the job fails" 1 $?
check "gate says why" false "$("$PY" -c "import json; print(str(json.load(open('$T/gate.json'))['pass']).lower())")"
check "nothing published" "2 3 4 5" "$(ls "$M/demo" | grep -E '^[0-9]+$' | sort -n | xargs)"
check "no temp directories left" 0 "$(ls -A "$M/demo" | grep -c '^\.tmp')"
e2e_finish
