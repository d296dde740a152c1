#!/usr/bin/env bash
# e2e_smoke.sh - the recommendation path end to end: encore-train builds the
# demo data set and an ALS model, the real encore-server serves it, and curl
# exercises every endpoint, good and bad requests, then SIGTERM must drain and
# exit 0.   Usage: bash tests/e2e_smoke.sh BUILD_DIR
. "$(dirname "$0")/lib/e2e.sh"
e2e_init "$1"

"$BUILD/encore-train" demo-data --dir "$T/data" 2>"$T/demo.log" || { cat "$T/demo.log"; exit 1; }
# --confidence linear: the model the f16 check below compares (f16 is approximate: another
# model, e.g. the automatic log confidence on these 1-3 weights, has a near-tie it reorders)
"$BUILD/encore-train" als --interactions "$T/data/interactions.tsv" --items "$T/data/items.csv" \
  --out "$T/repo/demo" --factors 16 --iterations 6 --confidence linear 2>"$T/train.log" \
  || { cat "$T/train.log"; exit 1; }
check "version 1 written" yes "$([ -f "$T/repo/demo/1/model.safetensors" ] && echo yes)"

# a corrupt model beside it must be refused without stopping the server
mkdir -p "$T/repo/broken/1" && printf 'garbage' > "$T/repo/broken/1/model.safetensors"

# (readiness any: with the default "all", the broken model keeps /readyz 503;
# e2e_versions.sh tests that)
# drain 3 s: the two requests "while draining" below must land inside it even on a
# loaded machine under ThreadSanitizer (1 s was missed there)
e2e_start_server --models "$T/repo" --drain-seconds 3 --max-body-bytes 4096 --readiness any || exit 1

# pick a user and one of their training items from the data
USER_ID=$(awk -F'\t' 'NR==1 {print $1}' "$T/data/interactions.tsv")
SEEN=$(awk -F'\t' -v u="$USER_ID" '$1==u {print $2; exit}' "$T/data/interactions.tsv")

req GET /healthz;  check healthz 200 "$STATUS"
req GET /readyz;   check readyz 200 "$STATUS"
check_contains "broken model logged" '"model broken version 1 refused' "$(cat "$T/server.log")"

req POST /v1/models/demo:recommend "{\"user\":\"$USER_ID\",\"k\":5}"
check "recommend status" 200 "$STATUS"
check "recommend k items" 5 "$(json 'len(j["items"])')"
check "recommend model" demo "$(json 'j["model"]')"
check "recommend version" 1 "$(json 'j["version"]')"
check "recommend sorted" True "$(json 'all(a["score"]>=b["score"] for a,b in zip(j["items"],j["items"][1:]))')"
check "recommend titles" True "$(json 'all(len(i["title"])>0 for i in j["items"])')"
req POST /v1/models/demo:recommend "{\"user\":\"$USER_ID\",\"k\":1000}"
check "seen items excluded" False "$(json "any(i['item']=='$SEEN' for i in j['items'])")"
req POST /v1/models/demo:recommend "{\"user\":\"$USER_ID\",\"k\":1000,\"exclude_seen\":false}"
check "exclude_seen false keeps them" True "$(json "any(i['item']=='$SEEN' for i in j['items'])")"
req POST /v1/models/demo:recommend "{\"user\":\"$USER_ID\",\"k\":3,\"candidates\":[\"$SEEN\",\"nope\"],\"exclude_seen\":false}"
check "candidates only" "['$SEEN']" "$(json '[i["item"] for i in j["items"]]')"
req POST /v1/models/demo:recommend '{"user":"no-such-user","k":4}'
check "unknown user popular" popular "$(json 'j["fallback"]')"
check "popular k" 4 "$(json 'len(j["items"])')"
req POST /v1/models/demo:recommend "{\"user\":\"new\",\"history\":[\"$SEEN\"],\"k\":4}"
check "history fold-in" history "$(json 'j["fallback"]')"
check "history excluded" False "$(json "any(i['item']=='$SEEN' for i in j['items'])")"
TAG=$(awk -F, 'NR==2 {print $NF}' "$T/data/items.csv" | tr -d '"\r' | cut -d'|' -f1)
req POST /v1/models/demo:recommend "{\"user\":\"$USER_ID\",\"k\":5,\"filter\":{\"tags\":[\"$TAG\"]}}"
check "tag filter status" 200 "$STATUS"
req POST /v1/models/demo:similar "{\"item\":\"$SEEN\",\"k\":3}"
check "similar status" 200 "$STATUS"
check "similar k" 3 "$(json 'len(j["items"])')"
check "similar excludes itself" False "$(json "any(i['item']=='$SEEN' for i in j['items'])")"
req GET /v1/models
check "models list" "['demo']" "$(json 'j["models"]')"
req GET /v1/models/demo
check "model describe family" mf "$(json 'j["family"]')"
check "model describe checksum" 64 "$(json 'len(j["data_sha256"])')"
check "model describe factors" 16 "$(json 'j["factors"]')"

# errors: status and a JSON {"error": ...} body
expect_error() {  # NAME STATUS METHOD PATH [BODY] [CURL ARGS]
  local name=$1 want=$2; shift 2
  req "$@"
  check "$name" "$want" "$STATUS"
  check "$name has error" True "$(json '"error" in j')"
}
expect_error "unknown model" 404 POST /v1/models/nope:recommend '{"user":"1"}'
expect_error "unknown route" 404 GET /v1/nothing
expect_error "unknown item" 404 POST /v1/models/demo:similar '{"item":"no-such-item"}'
expect_error "wrong method" 405 GET /v1/models/demo:recommend
expect_error "malformed json" 400 POST /v1/models/demo:recommend '{"user":'
expect_error "not an object" 400 POST /v1/models/demo:recommend '[1,2]'
expect_error "k zero" 400 POST /v1/models/demo:recommend '{"user":"1","k":0}'
expect_error "k too big" 400 POST /v1/models/demo:recommend '{"user":"1","k":1001}'
expect_error "k string" 400 POST /v1/models/demo:recommend '{"user":"1","k":"10"}'
expect_error "user wrong type" 400 POST /v1/models/demo:recommend '{"user":[1]}'
expect_error "unknown field" 400 POST /v1/models/demo:recommend '{"user":"1","kk":3}'
expect_error "duplicate keys" 400 POST /v1/models/demo:recommend '{"user":"1","user":"2"}'
expect_error "missing user" 400 POST /v1/models/demo:recommend '{"k":3}'
expect_error "exclude not array" 400 POST /v1/models/demo:recommend '{"user":"1","exclude":"x"}'
expect_error "bad filter" 400 POST /v1/models/demo:recommend '{"user":"1","filter":{"genre":"x"}}'
expect_error "empty body" 400 POST /v1/models/demo:recommend '' -H 'Content-Type: application/json'
BIG=$(head -c 6000 /dev/zero | tr '\0' 'a')
expect_error "body too large" 413 POST /v1/models/demo:recommend "{\"user\":\"$BIG\"}"
expect_error "not json" 415 POST /v1/models/demo:recommend '{"user":"1"}' -H 'Content-Type: text/plain'
req GET /healthz; check "still alive after bad requests" 200 "$STATUS"

req GET /metrics
check_contains "metrics requests" 'encore_requests_total{route="recommend",model="demo",version="1",status="200"}' "$BODY"
check_contains "metrics histogram" 'encore_request_duration_seconds_bucket{route="recommend",model="demo",version="1",le="+Inf"}' "$BODY"
check_contains "metrics models" 'encore_models_loaded 1' "$BODY"
check_contains "access log" '"path":"/v1/models/demo:recommend","status":200' "$(cat "$T/server.log")"
check "user ids hashed in the log" 0 "$(grep -c "\"user\":\"$USER_ID\"" "$T/server.log")"

# SIGTERM: /readyz turns 503 during the drain, then a clean exit 0
kill -TERM "$SRV_PID"
sleep 0.3
req GET /readyz; check "readyz 503 while draining" 503 "$STATUS"
req POST /v1/models/demo:recommend "{\"user\":\"$USER_ID\",\"k\":2}"; check "still serving while draining" 200 "$STATUS"
RC=124
for i in $(seq 100); do
  if ! kill -0 "$SRV_PID" 2>/dev/null; then wait "$SRV_PID"; RC=$?; break; fi
  sleep 0.1
done
check "exit code after SIGTERM" 0 "$RC"
check_contains "stopped cleanly" 'stopped cleanly' "$(cat "$T/server.log")"
SRV_PID=

# --score-precision: a bad value stops before binding; the default (auto:
# int8 screening + exact re-score) and f16 (binary16 item factors) rank the
# demo users as f32 does, where the CPU can run them.
"$BUILD/encore-server" --models "$T/repo" --port 1 --score-precision f8 2>"$T/bad.log"
check "bad score precision exits 2" 2 "$?"
check_contains "bad score precision named" "score precision must be auto, i8, f32 or f16, not 'f8'" "$(cat "$T/bad.log")"
# rankings WANT [ARGS...]: serve with ARGS, check it describes score
# precision WANT, set RANKS to the top 5 of the first 20 demo users.
rankings() {
  local want=$1; shift
  e2e_start_server --models "$T/repo" --drain-seconds 0 "$@" || exit 1
  req GET /v1/models/demo; check "$want described" "$want" "$(json 'j["score_precision"]')"
  RANKS=""
  for u in $(cut -f1 "$T/data/interactions.tsv" | sort -u | head -20); do
    req POST /v1/models/demo:recommend "{\"user\":\"$u\",\"k\":5}"; RANKS="$RANKS $(json '[i["item"] for i in j["items"]]')"
  done
  kill -TERM "$SRV_PID"; wait "$SRV_PID"; SRV_PID=
}
if grep -qw f16c /proc/cpuinfo && grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then
  rankings f32 --score-precision f32; F32=$RANKS
  check "f32 rankings read" 20 "$(printf '%s' "$F32" | grep -o '\[' | wc -l)"
  rankings i8; check "the default (i8 here) ranks as f32 (20 users, top 5)" "$F32" "$RANKS"
  rankings f16 --score-precision f16; check "f16 ranks as f32 (20 users, top 5)" "$F32" "$RANKS"
else
  echo "e2e_smoke: f16 scoring not checked: this CPU lacks AVX2/FMA/F16C"
fi

e2e_finish
