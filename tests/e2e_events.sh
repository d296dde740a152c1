#!/usr/bin/env bash
# e2e_events.sh - the events API with the embedded store, end to end: record,
# deduplicate, list, refuse hostile input without touching the store, the
# catalogue and erasure (admin), kill -9 right after 1,000 acknowledged
# events (none lost), and the trainer reading the store (export, --events).
#   Usage: bash tests/e2e_events.sh BUILD_DIR
. "$(dirname "$0")/lib/e2e.sh"
e2e_init "$1"
PY=${PY:-python3}

"$BUILD/encore-train" demo-data --dir "$T/data" 2>"$T/demo.log" || { cat "$T/demo.log"; exit 1; }
"$BUILD/encore-train" als --interactions "$T/data/interactions.tsv" --items "$T/data/items.csv" \
  --out "$T/repo/demo" --factors 8 --iterations 3 2>"$T/train.log" || { cat "$T/train.log"; exit 1; }
STORE=$T/store
export ENCORE_ADMIN_TOKEN=events-admin
ADMIN=(-H "Authorization: Bearer events-admin")
e2e_start_server --models "$T/repo" --events "$STORE" --max-events 50 --max-body-bytes 65536 \
  --drain-seconds 0 || exit 1

stored() {   # events kept in the store, from /metrics
  req GET /metrics
  printf '%s\n' "$BODY" | awk '$1=="encore_events_store_events" {print $2}'
}

req POST /v1/events '{"events":[{"user":"u1","item":"10","type":"play"},{"user":"u1","item":"11","type":"like","id":"e-1","recommendation_id":"r-1","time":"2025-12-06T10:00:00Z"},{"user":2,"item":12,"type":"skip","time":1765000000}]}'
check "post status" 200 "$STATUS"
check "post accepted" 3 "$(json 'j["accepted"]')"
check "post duplicates" 0 "$(json 'j["duplicates"]')"
req POST /v1/events '{"events":[{"user":"u1","item":"11","type":"like","id":"e-1"},{"user":"u1","item":"13","type":"view","id":"e-2"},{"user":"u1","item":"13","type":"view","id":"e-2"}]}'
check "retry counted once" "1 2" "$(json '"%d %d" % (j["accepted"], j["duplicates"])')"
req GET "/v1/users/u1/events"
check "list status" 200 "$STATUS"
check "list newest first" "['13', '11', '10']" "$(json '[e["item"] for e in j["events"]]')"
check "list fields" "like 1765015200 e-1 r-1" "$(json '" ".join(str(x) for x in (j["events"][1]["type"], j["events"][1]["time"], j["events"][1]["id"], j["events"][1]["recommendation_id"]))')"
req GET "/v1/users/u1/events?limit=1"
check "list limit" 1 "$(json 'len(j["events"])')"
req GET "/v1/users/u1/events?limit=0"
check "list bad limit" 400 "$STATUS"
req GET "/v1/users/nobody/events"
check "list unknown user" "200 0" "$STATUS $(json 'len(j["events"])')"
check "store holds 4" 4 "$(stored)"

# ---- hostile input: 400/413 and the store unchanged
hostile() {   # NAME EXPECTED-STATUS BODY [NEEDLE]
  req POST /v1/events "$3"
  check "hostile $1 status" "$2" "$STATUS"
  [ -z "${4:-}" ] || check_contains "hostile $1 message" "$4" "$BODY"
}
hostile "bad type" 400 '{"events":[{"user":"a","item":"b","type":"play"},{"user":"a","item":"b","type":"PLAY"}]}' 'events[1].type'
hostile "missing item" 400 '{"events":[{"user":"a","type":"play"}]}' 'events[0].item: required'
hostile "missing user" 400 '{"events":[{"item":"a","type":"play"}]}' 'events[0].user: required'
hostile "empty id" 400 '{"events":[{"user":"","item":"b","type":"play"}]}' 'events[0].user'
hostile "huge id" 400 "{\"events\":[{\"user\":\"$(head -c 300 /dev/zero | tr '\0' x)\",\"item\":\"b\",\"type\":\"play\"}]}" 'longer than 256'
hostile "control char" 400 '{"events":[{"user":"a\u0001","item":"b","type":"play"}]}' 'control'
hostile "future time" 400 '{"events":[{"user":"a","item":"b","type":"play","time":99999999999}]}' 'events[0].time'
hostile "bad time" 400 '{"events":[{"user":"a","item":"b","type":"play","time":"yesterday"}]}' 'events[0].time'
hostile "unknown field" 400 '{"events":[{"user":"a","item":"b","type":"play","rating":5}]}' "unknown field 'rating'"
hostile "not an array" 400 '{"events":{"user":"a"}}' 'non-empty array'
hostile "empty array" 400 '{"events":[]}'
hostile "top-level field" 400 '{"events":[],"extra":1}' "unknown field 'extra'"
hostile "event not object" 400 '{"events":[1]}' 'events[0]: must be an object'
hostile "not json" 400 '{"events":['
hostile "too many events" 413 "{\"events\":[$(for i in $(seq 51); do printf '{"user":"a","item":"b","type":"play"},'; done | sed 's/,$//')]}" 'max_events'
printf '{"events":[{"user":"\xff\xfe","item":"b","type":"play"}]}' > "$T/badutf8.json"
req POST /v1/events "$(cat "$T/badutf8.json")"
check "hostile bad utf-8" 400 "$STATUS"
"$PY" -c 'import sys; sys.stdout.write("{\"events\":[" + ",".join(["{\"user\":\"a\",\"item\":\"b\",\"type\":\"play\"}"] * 1000000) + "]}")' > "$T/million.json"
out=$(curl -s -m 30 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
  --data-binary @"$T/million.json" "http://127.0.0.1:$PORT/v1/events")
check "hostile 10^6 events" 413 "$out"
req POST /v1/events '{"events":[{"user":"a","item":"b","type":"play"}]}' -H 'Content-Type: text/plain'
check "hostile content type" 415 "$STATUS"
check "store unchanged by hostile input" 4 "$(stored)"

# ---- the catalogue (admin)
req PUT /v1/items/new-1 '{"title":"A new film","tags":["Drama"],"available_until":"2099-01-01T00:00:00Z"}'
check "put without token" 401 "$STATUS"
req PUT /v1/items/new-1 '{"title":"A new film","tags":["Drama"],"available_until":"2099-01-01T00:00:00Z"}' "${ADMIN[@]}"
check "put status" 200 "$STATUS"
check "put echo" "A new film True 4070908800" "$(json '" ".join(str(x) for x in (j["title"], j["available"], j["available_until"]))')"
req PUT /v1/items/new-1 '{"title":7}' "${ADMIN[@]}"
check "put bad title" 400 "$STATUS"
req DELETE /v1/items/new-1 "" "${ADMIN[@]}"
check "withdraw status" 200 "$STATUS"
req GET /v1/items/new-1
check "withdrawn keeps title" "A new film False" "$(json '"%s %s" % (j["title"], j["available"])')"
req GET /v1/items/never-put
check "no record" 404 "$STATUS"

# ---- erasure (admin)
req DELETE /v1/users/u1
check "erase without token" 401 "$STATUS"
req DELETE /v1/users/u1 "" "${ADMIN[@]}"
check "erase status" 200 "$STATUS"
check "erase count" 3 "$(json 'j["events_removed"]')"
req GET /v1/users/u1/events
check "erased user has no events" 0 "$(json 'len(j["events"])')"
check "erased_at reported" True "$(json '"erased_at" in j')"
check "store after erasure" 1 "$(stored)"

# ---- kill -9 right after 1,000 acknowledged events: none lost
"$PY" - "$PORT" > "$T/acked.txt" <<'EOF'
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
acked = 0
for r in range(200):
    ev = [{"user": "k%d" % (r % 7), "item": str(i), "type": "play", "id": "kill-%d-%d" % (r, i)}
          for i in range(5)]
    c.request("POST", "/v1/events", json.dumps({"events": ev}), {"Content-Type": "application/json"})
    resp = c.getresponse()
    body = json.loads(resp.read())
    if resp.status != 200:
        break
    acked += body["accepted"]
print(acked)
EOF
kill -KILL "$SRV_PID"
wait "$SRV_PID" 2>/dev/null
check "1,000 events acknowledged" 1000 "$(cat "$T/acked.txt")"
stats=$("$BUILD/encore-train" events stats --events "$STORE" 2>"$T/stats.log")
check "after kill -9: every acknowledged event is there" 1001 \
  "$(printf '%s' "$stats" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["events"])')"
check "after kill -9: one tombstone" 1 \
  "$(printf '%s' "$stats" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["tombstones"])')"

# ---- the trainer reads the store: export, and training with --events
"$BUILD/encore-train" events export --events "$STORE" --out "$T/events.tsv" 2>"$T/export.log"
check "export status" 0 "$?"
check "export header" "user	item	type	weight	time" "$(head -1 "$T/events.tsv")"
check "export rows" 1001 "$(($(wc -l < "$T/events.tsv") - 1))"
check "export skip weight" "2	12	skip	-1	1765000000" "$(grep -P '^2\t12\t' "$T/events.tsv")"
"$BUILD/encore-train" als --interactions "$T/data/interactions.tsv" --events "$STORE" \
  --out "$T/repo2/demo" --factors 8 --iterations 2 > "$T/als.out" 2>"$T/als.log"
check "train with --events" 0 "$?"
check_contains "train reports the store" "1001 events up to sequence" "$(cat "$T/als.log")"
"$BUILD/encore-train" als --events "$STORE" --out "$T/repo3/ev" --factors 4 --iterations 1 \
  > /dev/null 2>"$T/als2.log"
check "train on events alone" 0 "$?"
"$BUILD/encore-train" als --interactions "$T/data/interactions.tsv" --events "$T/no-store" \
  --out "$T/repo4/x" 2>"$T/als3.log"
check "missing store refused" 1 "$?"
check_contains "missing store message" "no event store" "$(cat "$T/als3.log")"

# the new model records its cutoff; the server serves it with the same store
SRV_PID=
e2e_start_server --models "$T/repo2" --events "$STORE" --drain-seconds 0 || exit 1
req GET /v1/models/demo
check "cutoff in the model" 1004 "$(json 'j["hyperparameters"]["events"]["cutoff_seq"]')"
check "store reopened after kill -9" 1001 "$(stored)"

# ---- the two readers of a POST's body (h_events.c): a plain body takes the
# fast path, one with an escape the general path; they store the same events,
# and whatever the fast path does not take gets the general path's answer
req POST /v1/events '{"events":[{"user":"fp","item":7,"type":"play","time":1765000000,"id":"fp-1"}]}'
check "fast path status" 200 "$STATUS"
req POST /v1/events ' { "events" : [ { "id" : "fp\u002d2" , "user" : "fp", "item" : "8", "type" : "like", "time" : "2025-12-06T10:00:00Z" } ] } '
check "general path status" 200 "$STATUS"
req GET /v1/users/fp/events
check "both paths stored alike" "8 like 1765015200 fp-2 | 7 play 1765000000 fp-1" \
  "$(json '" | ".join(" ".join(str(e[k]) for k in ("item", "type", "time", "id")) for e in j["events"])')"
req POST /v1/events '{"events":[{"user":"fp","item":"7","type":"play","id":"fp-1"}]}'
check "fast path duplicate" "0 1" "$(json '"%d %d" % (j["accepted"], j["duplicates"])')"
hostile "repeated field" 400 '{"events":[{"user":"a","user":"b","item":"c","type":"play"}]}' 'duplicate'
hostile "leading zero" 400 '{"events":[{"user":007,"item":"c","type":"play"}]}' 'malformed'
hostile "real time" 400 '{"events":[{"user":"a","item":"c","type":"play","time":1.5e9}]}' 'events[0].time'
hostile "trailing bytes" 400 '{"events":[{"user":"a","item":"c","type":"play"}]} x' 'malformed'
hostile "second event bad" 400 '{"events":[{"user":"a","item":"c","type":"play"},{"user":"a","item":"c","type":"nope"}]}' 'events[1].type'
check "store: the two events only" 1003 "$(stored)"
e2e_finish
