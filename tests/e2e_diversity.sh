#!/usr/bin/env bash
# e2e_diversity.sh - issue #16's list controls end to end: "diversity" and
# "max_per_tag" on :recommend and :similar return exactly k items (k more
# than the candidates: all of them), keep at most N per tag while they can,
# and refuse bad values; "explain": true adds "because" lists that agree
# with numpy (tests/explain_ref.py) for a model user, a history and a user
# known only from events; encore-train eval's list measures agree with a
# numpy recomputation from the lists it wrote (tests/list_eval_ref.py).
#   Usage: bash tests/e2e_diversity.sh BUILD_DIR
. "$(dirname "$0")/lib/e2e.sh"
e2e_init "$1"
e2e_need python3-numpy "$PY" -c 'import numpy'

"$BUILD/encore-train" demo-data --dir "$T/data" --users 400 --items 150 >/dev/null 2>"$T/demo.log" ||
  { cat "$T/demo.log"; exit 1; }
awk 'NR % 5 == 0' "$T/data/interactions.tsv" >"$T/test.tsv"
awk 'NR % 5 != 0' "$T/data/interactions.tsv" >"$T/train.tsv"
"$BUILD/encore-train" als --interactions "$T/train.tsv" --items "$T/data/items.csv" \
  --out "$T/repo/demo" --factors 16 --iterations 6 >/dev/null 2>"$T/train.log" ||
  { cat "$T/train.log"; exit 1; }
MODEL=$T/repo/demo/1/model.safetensors

# ---- encore-train eval: the list measures against numpy
for d in 0 0.4; do
  "$BUILD/encore-train" eval --model "$T/repo/demo" --train "$T/train.tsv" --test "$T/test.tsv" \
    --diversity $d --lists "$T/lists-$d.tsv" >"$T/eval-$d.json" 2>"$T/eval.log"
  check "eval --diversity $d runs" 0 $?
  "$PY" "$E2E_SRC/tests/list_eval_ref.py" "$T/train.tsv" "$MODEL" "$T/lists-$d.tsv" \
    "$T/eval-$d.json" >"$T/ref-$d.log" 2>&1
  check "eval --diversity $d: list measures = numpy ($(grep -c ok "$T/ref-$d.log") agree)" 0 $?
  grep MISMATCH "$T/ref-$d.log" >&2
done
BODY=$(cat "$T/eval-0.json")
ILD0=$(json 'j["model"]["ild_factors"]')
BODY=$(cat "$T/eval-0.4.json")
ILD4=$(json 'j["model"]["ild_factors"]')
check "eval: diversity 0.4 raises intra-list diversity ($ILD0 -> $ILD4)" 1 \
  "$(awk -v a="$ILD0" -v b="$ILD4" 'BEGIN { print (b > a) }')"

e2e_start_server --models "$T/repo" --events "$T/store" --drain-seconds 0 || exit 1
U=$(awk -F'\t' 'NR==1 {print $1}' "$T/train.tsv")
count() { json 'len(j["items"])'; }
distinct() { json 'len(set(i["item"] for i in j["items"]))'; }

# ---- exactly k
for body in "{\"user\":\"$U\",\"k\":10,\"diversity\":0.5}" \
            "{\"user\":\"$U\",\"k\":10,\"diversity\":1}" \
            "{\"user\":\"$U\",\"k\":25,\"max_per_tag\":1}" \
            "{\"user\":\"$U\",\"k\":10,\"max_per_tag\":1,\"diversity\":0.3}" \
            "{\"history\":[\"3\",\"7\"],\"k\":12,\"diversity\":0.6}"; do
  req POST /v1/models/demo:recommend "$body"
  want=$(echo "$body" | sed 's/.*"k":\([0-9]*\).*/\1/')
  check "recommend $body: 200" 200 "$STATUS"
  check "recommend $body: exactly k" "$want" "$(count)"
  check "recommend $body: distinct" "$want" "$(distinct)"
done
req POST /v1/models/demo:similar '{"item":"3","k":10,"diversity":0.5,"max_per_tag":2}'
check "similar diversity: exactly k" 10 "$(count)"
check "similar diversity: the item itself left out" False "$(json '"3" in [i["item"] for i in j["items"]]')"
# k above the candidates: all of them, once each
req POST /v1/models/demo:recommend "{\"user\":\"$U\",\"k\":10,\"diversity\":0.4,\"max_per_tag\":1,\"exclude_seen\":false,\"candidates\":[\"1\",\"2\",\"3\",\"4\",\"5\"]}"
check "k > candidates: all five" 5 "$(count)"
check "k > candidates: distinct" 5 "$(distinct)"
# diversity 0 is today's answer
req POST /v1/models/demo:recommend "{\"user\":\"$U\",\"k\":10}"
PLAIN=$(json '[i["item"] for i in j["items"]]')
req POST /v1/models/demo:recommend "{\"user\":\"$U\",\"k\":10,\"diversity\":0}"
check "diversity 0 = no diversity" "$PLAIN" "$(json '[i["item"] for i in j["items"]]')"
req POST /v1/models/demo:recommend "{\"user\":\"$U\",\"k\":10,\"diversity\":0.5}"
check "diversity 0.5 changes the list" 1 "$(json "int([i['item'] for i in j['items']] != $PLAIN)")"
# max_per_tag: no genre more than once in 4 items (15 genres in the catalogue)
req POST /v1/models/demo:recommend "{\"user\":\"$U\",\"k\":4,\"max_per_tag\":1}"
GEN=$(for it in $(json '" ".join(i["item"] for i in j["items"])'); do
  awk -F, -v id="$it" 'NR > 1 && $1 == id { print $NF }' "$T/data/items.csv"; done | tr '|' '\n' |
  sort | uniq -c | sort -rn | head -1 | awk '{print $1}')
check "max_per_tag 1: no genre twice" 1 "$GEN"

# ---- bad values: 400 with a message
for bad in '"diversity":2' '"diversity":-0.1' '"diversity":"high"' '"max_per_tag":-1' \
            '"max_per_tag":1.5' '"explain":"yes"'; do
  req POST /v1/models/demo:recommend "{\"user\":\"$U\",$bad}"
  check "refused: $bad" 400 "$STATUS"
  check_contains "refused: $bad names the field" "$(echo "$bad" | cut -d'"' -f2)" "$BODY"
done
req POST /v1/models/demo:similar '{"item":"3","explain":true}'
check "similar: no explain" 400 "$STATUS"

# ---- explain: against numpy
req POST /v1/models/demo:recommend "{\"user\":\"$U\",\"k\":10}"
check "no explain, no because" False "$(json '"because" in j["items"][0]')"
req POST /v1/models/demo:recommend "{\"user\":\"$U\",\"k\":10,\"explain\":true}"
check "explain: because on every item" 10 "$(json 'sum("because" in i for i in j["items"])')"
check "explain: titles" True "$(json 'all("title" in b for i in j["items"] for b in i["because"])')"
printf '%s' "$BODY" | "$PY" "$E2E_SRC/tests/explain_ref.py" "$MODEL" user "$U" >"$T/x.log" 2>&1
check "explain (model user) = numpy: $(tail -1 "$T/x.log")" 0 $?
req POST /v1/models/demo:recommend '{"history":["3","7","9","9"],"k":10,"explain":true}'
printf '%s' "$BODY" | "$PY" "$E2E_SRC/tests/explain_ref.py" "$MODEL" history 3,7,9,9 >"$T/x.log" 2>&1
check "explain (history) = numpy: $(tail -1 "$T/x.log")" 0 $?
req POST /v1/events '{"events":[{"user":"newbie","item":"3","type":"play"},{"user":"newbie","item":"3","type":"play"},{"user":"newbie","item":"7","type":"like"},{"user":"newbie","item":"9","type":"skip"}]}'
check "events posted" 200 "$STATUS"
req POST /v1/models/demo:recommend '{"user":"newbie","k":10,"explain":true,"diversity":0.3}'
check "events user: source events" events "$(json 'j["source"]')"
printf '%s' "$BODY" | "$PY" "$E2E_SRC/tests/explain_ref.py" "$MODEL" weighted 3:2,7:2,9:-1 >"$T/x.log" 2>&1
check "explain (events user, diversified) = numpy: $(tail -1 "$T/x.log")" 0 $?
req POST /v1/models/demo:recommend '{"user":"nobody-at-all","k":3,"explain":true}'
check "popular fallback: empty because" "[[], [], []]" "$(json '[i["because"] for i in j["items"]]')"

e2e_finish
