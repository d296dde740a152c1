#!/usr/bin/env bash
# e2e_versions.sh - a bad version never takes a pod down, and rollback works.
#
#   1. a server started with a corrupt newest version (3) serves the highest
#      valid one (2), is ready, and counts and logs the refusal;
#   2. readiness "all" (the default): a model with no valid version keeps
#      /readyz 503 and names it; "any" is ready;
#   3. POST :reload {"version": 1} serves 1 and pins it on that replica: a new
#      version does not replace it; {"version": "latest"} unpins;
#   4. the repository pin (encore-train pin) is obeyed by two running replicas
#      and by one started afterwards; removing it returns them to the highest.
set -u
source "$(dirname "$0")/lib/e2e.sh"
e2e_init "$1"
TRAIN=$BUILD/encore-train
"$TRAIN" demo-data --dir "$T/data" >/dev/null 2>&1 || { echo "demo-data failed"; exit 1; }
train() { "$TRAIN" als --interactions "$T/data/interactions.tsv" --items "$T/data/items.csv" \
    --out "$T/repo/demo" --factors 8 --iterations 2 --seed "$1" >/dev/null 2>>"$T/train.log"; }
train 1 && train 2 || { cat "$T/train.log"; exit 1; }
mkdir -p "$T/repo/demo/3"
head -c 2000 "$T/repo/demo/2/model.safetensors" > "$T/repo/demo/3/model.safetensors"
USER_ID=$(awk -F'\t' 'NR==1 {print $1}' "$T/data/interactions.tsv")
export ENCORE_ADMIN_TOKEN=e2e-admin-token
AUTH=(-H "Authorization: Bearer $ENCORE_ADMIN_TOKEN")
served() {  # version answering recommend on $PORT
  req POST /v1/models/demo:recommend "{\"user\":\"$USER_ID\",\"k\":2}"
  json 'j["version"]'
}
wait_served() {  # VERSION: poll up to 10 s
  local i v
  for i in $(seq 1 100); do v=$(served); [ "$v" = "$1" ] && break; sleep 0.1; done
  echo "$v"
}
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

# ---- 1. corrupt newest version at startup
e2e_start_server --models "$T/repo" --rescan-seconds 1 || exit 1
check "serves the highest valid version" 2 "$(served)"
req GET /readyz; check "ready with version 2" 200 "$STATUS"
check "refusal counted" 1 "$(metric encore_model_load_failures_total)"
check_contains "refusal logged" "model demo version 3 refused" "$(cat "$T/server.log")"
check_contains "fallback logged" "version 2 is the highest that loads" "$(cat "$T/server.log")"
sleep 1.5   # a rescan or two: the refusal is not retried or recounted
check "refusal not recounted" 1 "$(metric encore_model_load_failures_total)"

# ---- 2. readiness all / any
mkdir -p "$T/repo/broken/1" && printf 'garbage' > "$T/repo/broken/1/model.safetensors"
for i in $(seq 1 50); do req GET /readyz; [ "$STATUS" = 503 ] && break; sleep 0.1; done
check "readiness all: a model with no valid version -> 503" 503 "$STATUS"
check_contains "readyz names it" "broken" "$BODY"
# KServe: a model that exists but is not ready is a 503 (retry), not a 404
req GET /v1/models/broken; check "status of a model with no valid version -> 503" 503 "$STATUS"
check_contains "says it is not ready" "not ready" "$BODY"
req POST /v1/models/broken:recommend '{"user":"1","k":2}'; check "its recommend -> 503" 503 "$STATUS"
req GET /v2/models/broken/ready; check "its V2 ready -> 503" 503 "$STATUS"
req GET /v1/models/nosuch; check "an unknown model is still 404" 404 "$STATUS"
check "the other model still answers" 2 "$(served)"
kill -TERM "$SRV_PID"; wait "$SRV_PID" 2>/dev/null
e2e_start_server --models "$T/repo" --readiness any || exit 1
req GET /readyz; check "readiness any -> 200" 200 "$STATUS"
kill -TERM "$SRV_PID"; wait "$SRV_PID" 2>/dev/null
e2e_start_server --models "$T/repo" || exit 1
req GET /readyz; check "readiness all at startup -> 503" 503 "$STATUS"
rm -rf "$T/repo/broken"
for i in $(seq 1 50); do req GET /readyz; [ "$STATUS" = 200 ] && break; sleep 0.1; done
check "ready once the broken model is removed" 200 "$STATUS"

# ---- 3. reload to a version pins it on this replica
req POST /v1/models/demo:reload '{"version": 1}' "${AUTH[@]}"
check "reload version 1" 200 "$STATUS"
check "answer names the pin" 1 "$(json 'j["pinned"]["version"]')"
check "version 1 served" 1 "$(served)"
train 3   # version 4, valid
sleep 0.5; kill -HUP "$SRV_PID"; sleep 0.5
check "pinned: version 4 not taken" 1 "$(served)"
req GET /v1/models/demo; check "describe: pinned by replica" replica "$(json 'j["pinned"]["by"]')"
req POST /v1/models/demo:reload '{"version": "latest"}' "${AUTH[@]}"
check "unpin" 200 "$STATUS"
check "latest -> version 4" 4 "$(json 'j["version"]')"
check "version 4 served" 4 "$(served)"
req POST /v1/models/demo:reload '{"version": "newest"}' "${AUTH[@]}"
check "bad version value -> 400" 400 "$STATUS"
FIRST_PORT=$PORT FIRST_PID=$SRV_PID

# ---- 4. the repository pin reaches every replica
SRV_PID=; e2e_start_server --models "$T/repo" --rescan-seconds 1 || exit 1
SECOND_PORT=$PORT SECOND_PID=$SRV_PID
"$TRAIN" pin --out "$T/repo/demo" --version 2 2>>"$T/train.log" || { cat "$T/train.log"; exit 1; }
PORT=$FIRST_PORT; check "replica 1 follows the repository pin" 2 "$(wait_served 2)"
PORT=$SECOND_PORT; check "replica 2 follows the repository pin" 2 "$(wait_served 2)"
req GET /v1/models/demo; check "describe: pinned by repository" repository "$(json 'j["pinned"]["by"]')"
"$TRAIN" pin --out "$T/repo/demo" --version 9 2>/dev/null; check "pin of a missing version refused" 1 $?
SRV_PID=; e2e_start_server --models "$T/repo" || exit 1
check "a replica started later serves the pin" 2 "$(served)"
kill -TERM "$SRV_PID"; wait "$SRV_PID" 2>/dev/null
"$TRAIN" pin --out "$T/repo/demo" --version latest 2>>"$T/train.log"
PORT=$FIRST_PORT; check "replica 1 back to the highest" 4 "$(wait_served 4)"
PORT=$SECOND_PORT; check "replica 2 back to the highest" 4 "$(wait_served 4)"
"$TRAIN" prune --out "$T/repo/demo" --keep 2 2>>"$T/train.log"
check "prune keeps the 2 highest" "3 4" "$(ls "$T/repo/demo" | grep -E '^[0-9]+$' | sort -n | xargs)"
kill -TERM "$FIRST_PID" "$SECOND_PID"; wait "$FIRST_PID" "$SECOND_PID" 2>/dev/null
e2e_finish
