#!/usr/bin/env bash
# e2e_events_redis.sh - two encore-server replicas sharing a real redis-server
# (started here on a free port in the temp dir, AOF with appendfsync always):
# what one records the other lists; with Redis stopped, events answer 503 with
# nothing written while /readyz and recommend stay 200; with Redis back, events
# are accepted again without a restart.   Usage: bash tests/e2e_events_redis.sh BUILD_DIR
. "$(dirname "$0")/lib/e2e.sh"
e2e_init "$1"
PY=${PY:-python3}
e2e_need redis-server command -v redis-server
e2e_need redis-server command -v redis-cli   # redis-tools, a dependency of redis-server

REDIS_PID=
start_redis() {   # on $RPORT; 0 once it answers and is ours (its dir is $T)
  redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$T" --save '' --appendonly yes \
    --appendfsync always --logfile "$T/redis.log" &
  REDIS_PID=$!
  local i
  for i in $(seq 200); do
    if [ "$(redis-cli -p "$RPORT" CONFIG GET dir 2>/dev/null | tail -1)" = "$T" ]; then
      return 0
    fi
    kill -0 "$REDIS_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
stop_redis() {
  kill -TERM "$REDIS_PID" 2>/dev/null
  wait "$REDIS_PID" 2>/dev/null
  REDIS_PID=
}
B_PID=
cleanup_all() {
  [ -z "$B_PID" ] || kill -KILL "$B_PID" 2>/dev/null
  [ -z "$REDIS_PID" ] || kill -KILL "$REDIS_PID" 2>/dev/null
  e2e_cleanup
}
trap cleanup_all EXIT
started=
for try in 1 2 3 4 5; do
  RPORT=$(( 20000 + (RANDOM * 7 + $$ + try) % 40000 ))
  if start_redis; then started=1; break; fi
  stop_redis
done
[ -n "$started" ] || { echo "could not start redis-server" >&2; cat "$T/redis.log" >&2; exit 1; }
URL=redis://127.0.0.1:$RPORT

"$BUILD/encore-train" demo-data --dir "$T/data" 2>"$T/demo.log" || { cat "$T/demo.log"; exit 1; }
"$BUILD/encore-train" als --interactions "$T/data/interactions.tsv" --items "$T/data/items.csv" \
  --out "$T/repo/demo" --factors 8 --iterations 3 2>"$T/train.log" || { cat "$T/train.log"; exit 1; }
USER_ID=$(awk -F'\t' 'NR==1 {print $1}' "$T/data/interactions.tsv")

# replica B by hand, replica A through the library (its port is $PORT)
for try in 1 2 3 4 5; do
  BPORT=$(( 20000 + (RANDOM * 7 + $$ + 17 * try) % 40000 ))
  "$BUILD/encore-server" --host 127.0.0.1 --port "$BPORT" --models "$T/repo" --events "$URL" \
    --drain-seconds 0 2>"$T/b.log" &
  B_PID=$!
  ok=
  for i in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$BPORT/healthz" && { ok=1; break; }
    kill -0 "$B_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$ok" ] && break
  kill -KILL "$B_PID" 2>/dev/null; wait "$B_PID" 2>/dev/null; B_PID=
done
[ -n "$B_PID" ] || { echo "replica B did not start" >&2; cat "$T/b.log" >&2; exit 1; }
e2e_start_server --models "$T/repo" --events "$URL" --drain-seconds 0 || exit 1

req POST /v1/events "{\"events\":[{\"user\":\"$USER_ID\",\"item\":\"1\",\"type\":\"play\",\"id\":\"r-1\"},{\"user\":\"$USER_ID\",\"item\":\"2\",\"type\":\"like\"}]}"
check "A: post" "200 2" "$STATUS $(json 'j["accepted"]')"
SAVED_PORT=$PORT
PORT=$BPORT
req GET "/v1/users/$USER_ID/events"
check "B lists what A recorded" "['2', '1']" "$(json '[e["item"] for e in j["events"]]')"
req POST /v1/events "{\"events\":[{\"user\":\"$USER_ID\",\"item\":\"1\",\"type\":\"play\",\"id\":\"r-1\"}]}"
check "B: A's event id is a duplicate" "0 1" "$(json '"%d %d" % (j["accepted"], j["duplicates"])')"
req GET /metrics
check_contains "metrics: redis store up" 'encore_events_store_up{store="redis"} 1' "$BODY"
check_contains "metrics: store events" 'encore_events_store_events 2' "$BODY"
PORT=$SAVED_PORT

# ---- an event posted to A changes B's next answer (B hears it on the Redis stream)
U2=$(awk -F'\t' '{print $1}' "$T/data/interactions.tsv" | sort -u | sed -n 5p)
U3=$(awk -F'\t' '{print $1}' "$T/data/interactions.tsv" | sort -u | sed -n 9p)
PORT=$BPORT
req POST /v1/models/demo:recommend "{\"user\":\"$U2\",\"k\":10}"
check "B: source model" model "$(json 'j["source"]')"
TOPB=$(json 'j["items"][0]["item"]')
PORT=$SAVED_PORT
req POST /v1/events "{\"events\":[{\"user\":\"$U2\",\"item\":\"$TOPB\",\"type\":\"play\"}]}"
t0=$(date +%s.%N)
PORT=$BPORT
gone=
for i in $(seq 200); do   # bounded wait; the figure is printed, not asserted
  req POST /v1/models/demo:recommend "{\"user\":\"$U2\",\"k\":10}"
  if [ "$(json "'$TOPB' in [i['item'] for i in j['items']]")" = False ]; then gone=1; break; fi
  sleep 0.05
done
echo "replica B's answer changed $(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || echo '?') s after A's 200" >&2
check "B: A's event changed B's answer" 1 "${gone:-0}"
check "B: source events" events "$(json 'j["source"]')"
PORT=$SAVED_PORT

# ---- Redis down
stop_redis
req POST /v1/events "{\"events\":[{\"user\":\"$USER_ID\",\"item\":\"3\",\"type\":\"play\"}]}"
check "redis down: events 503" 503 "$STATUS"
check_contains "redis down: clear error" "unavailable" "$BODY"
req GET /readyz
check "redis down: readyz" 200 "$STATUS"
req POST /v1/models/demo:recommend "{\"user\":\"$USER_ID\",\"k\":5}"
check "redis down: recommend" 200 "$STATUS"
req POST /v1/models/demo:recommend "{\"user\":\"$U3\",\"k\":5}"
check "redis down: a user not cached gets the model's answer" "200 model" "$STATUS $(json 'j["source"]')"
req GET /metrics
check_contains "redis down: store_up 0" 'encore_events_store_up{store="redis"} 0' "$BODY"
check "redis down: model-only answers counted" True "$(printf '%s\n' "$BODY" | awk '$1=="encore_recommend_model_only_total" {print ($2 > 0) ? "True" : "False"}')"
check "redis down: failures counted" True "$(printf '%s\n' "$BODY" | awk '$1=="encore_events_store_failures_total" {print ($2 > 0) ? "True" : "False"}')"

# ---- Redis back: accepted again, nothing of the refused request was written
start_redis || { echo "redis did not restart" >&2; exit 1; }
ok=
for i in $(seq 100); do
  req POST /v1/events "{\"events\":[{\"user\":\"$USER_ID\",\"item\":\"4\",\"type\":\"play\"}]}"
  [ "$STATUS" = 200 ] && { ok=1; break; }
  sleep 0.1
done
check "redis back: events accepted again" 1 "${ok:-0}"
PORT=$BPORT
req GET "/v1/users/$USER_ID/events"
check "redis back: the refused event was not written, the acknowledged ones kept" "['4', '2', '1']" \
  "$(json '[e["item"] for e in j["events"]]')"
PORT=$SAVED_PORT
# replica B: a clean stop, and no sanitizer report in its log
kill -TERM "$B_PID" 2>/dev/null
wait "$B_PID" 2>/dev/null
check "replica B stopped cleanly" 0 "$?"
B_PID=
e2e_sanitizer_check "$T/b.log" || FAIL=$((FAIL + 1))
e2e_finish
