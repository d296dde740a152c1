#!/usr/bin/env bash
# e2e_live.sh - recorded events change the next answer (embedded store): a
# known user's played item leaves their list and the list changes; an unknown
# user with plays of one genre gets that genre; a dislike is left out; a
# request history is added for a known user; a withdrawn item disappears from
# recommend and similar and comes back when made available; an erased user
# gets no personal answer.   Usage: bash tests/e2e_live.sh BUILD_DIR
. "$(dirname "$0")/lib/e2e.sh"
e2e_init "$1"
PY=${PY:-python3}

"$BUILD/encore-train" demo-data --dir "$T/data" >/dev/null 2>"$T/demo.log" || { cat "$T/demo.log"; exit 1; }
"$BUILD/encore-train" als --interactions "$T/data/interactions.tsv" --items "$T/data/items.csv" \
  --out "$T/repo/demo" --factors 16 --iterations 6 >/dev/null 2>"$T/train.log" || { cat "$T/train.log"; exit 1; }
export ENCORE_ADMIN_TOKEN=live-admin
ADMIN=(-H "Authorization: Bearer live-admin")
e2e_start_server --models "$T/repo" --events "$T/store" --drain-seconds 0 || exit 1

U=$(awk -F'\t' 'NR==1 {print $1}' "$T/data/interactions.tsv")
items() { json '" ".join(i["item"] for i in j["items"])'; }
reco() { req POST /v1/models/demo:recommend "$1"; }
post() { req POST /v1/events "{\"events\":[$1]}"; check "post $2" 200 "$STATUS"; }

metric() { req GET /metrics; printf '%s\n' "$BODY" | awk -v n="$1" '$1 == n {print $2}'; }

# ---- a user with no recorded events costs no store read (nor a cache entry)
READS0=$(metric encore_recommend_event_reads_total)
reco "{\"user\":\"$U\",\"k\":10}"
reco "{\"user\":\"$U\",\"k\":10,\"history\":[]}"
reco '{"user":"nobody-yet","k":10}'
check "no events: no store reads" "$READS0" "$(metric encore_recommend_event_reads_total)"

# ---- a known user plays their top item: it leaves the list, the list moves
reco "{\"user\":\"$U\",\"k\":10}"
check "known: source model" model "$(json 'j["source"]')"
BEFORE=$(items)
TOP=${BEFORE%% *}
post "{\"user\":\"$U\",\"item\":\"$TOP\",\"type\":\"play\"}" "known play"
reco "{\"user\":\"$U\",\"k\":10}"
AFTER=$(items)
check "known: source events" events "$(json 'j["source"]')"
check "known: played item gone" False "$(json "'$TOP' in [i['item'] for i in j['items']]")"
check "known: the list changed" yes "$([ "$BEFORE" != "$AFTER" ] && echo yes)"
reco "{\"user\":\"$U\",\"k\":100,\"exclude_seen\":false}"
check "known: exclude_seen false keeps the played item" True "$(json "'$TOP' in [i['item'] for i in j['items']]")"
# a dislike: left out even with exclude_seen false
SECOND=$(echo "$AFTER" | cut -d' ' -f1)
post "{\"user\":\"$U\",\"item\":\"$SECOND\",\"type\":\"dislike\"}" "dislike"
reco "{\"user\":\"$U\",\"k\":10,\"exclude_seen\":false}"
check "dislike: left out" False "$(json "'$SECOND' in [i['item'] for i in j['items']]")"
# a request history is added to a known user's vector (and left out)
reco "{\"user\":\"$U\",\"k\":10}"
H=$(items | cut -d' ' -f1)
reco "{\"user\":\"$U\",\"k\":10,\"history\":[\"$H\"]}"
check "history: added for a known user" False "$(json "'$H' in [i['item'] for i in j['items']]")"

# ---- an unknown user who plays one genre gets that genre
GENRE=$(awk -F, 'NR>1 {n=split($NF,g,"|"); for (i=1;i<=n;i++) c[g[i]]++} END {for (x in c) print c[x], x}' \
  "$T/data/items.csv" | sort -rn | sed -n 2p | cut -d' ' -f2)
PLAYS=$(awk -F, -v g="$GENRE" 'NR>1 && $NF ~ g {print $1}' "$T/data/items.csv" | head -8 | tr '\n' ' ')
reco '{"user":"fresh-1","k":10}'
check "unknown: popular before" popular "$(json 'j["source"]')"
EV=""
for it in $PLAYS; do EV="$EV{\"user\":\"fresh-1\",\"item\":\"$it\",\"type\":\"play\"},"; done
post "${EV%,}" "unknown plays"
reco '{"user":"fresh-1","k":10}'
check "unknown: source events" events "$(json 'j["source"]')"
check "unknown: played items left out" False "$(json "any(i['item'] in '$PLAYS'.split() for i in j['items'])")"
genre_count() {   # how many of the listed items carry $GENRE
  local n=0 it
  for it in $1; do
    awk -F, -v i="$it" -v g="$GENRE" 'NR>1 && $1==i && $NF ~ g {found=1} END {exit !found}' \
      "$T/data/items.csv" && n=$((n + 1))
  done
  echo $n
}
LIVE=$(items)
req POST /v1/models/demo:recommend '{"user":"fresh-2","k":10}'
POP=$(items)
check "unknown: the list moves towards the genre played ($GENRE)" yes \
  "$([ "$(genre_count "$LIVE")" -gt "$(genre_count "$POP")" ] && echo yes)"

# ---- a withdrawn item disappears from recommend and similar
reco '{"user":"fresh-1","k":10}'
W=$(items | cut -d' ' -f1)
req POST /v1/models/demo:similar "{\"item\":\"$TOP\",\"k\":5}"
S=$(items | cut -d' ' -f1)
req DELETE "/v1/items/$W" "" "${ADMIN[@]}"; check "withdraw $W" 200 "$STATUS"
req DELETE "/v1/items/$S" "" "${ADMIN[@]}"; check "withdraw $S" 200 "$STATUS"
reco '{"user":"fresh-1","k":50}'
check "withdrawn: not recommended" False "$(json "'$W' in [i['item'] for i in j['items']]")"
req POST /v1/models/demo:similar "{\"item\":\"$TOP\",\"k\":50}"
check "withdrawn: not similar" False "$(json "'$S' in [i['item'] for i in j['items']]")"
req PUT "/v1/items/$W" '{"available":true}' "${ADMIN[@]}"
reco '{"user":"fresh-1","k":10}'
check "available again: back" True "$(json "'$W' in [i['item'] for i in j['items']]")"
req PUT "/v1/items/$W" '{"available_until":"2001-01-01T00:00:00Z"}' "${ADMIN[@]}"
reco '{"user":"fresh-1","k":50}'
check "licence ended: not recommended" False "$(json "'$W' in [i['item'] for i in j['items']]")"

# ---- a new item (not in the model): from its tags first, then from its 3 players
req PUT /v1/items/brand-new '{"title":"Brand New (2026)","tags":["'"$GENRE"'"]}' "${ADMIN[@]}"
check "new item: put" 200 "$STATUS"
req POST /v1/models/demo:similar '{"item":"brand-new","k":5}'
check "new item: neighbours from its tags" "200 5" "$STATUS $(json 'len(j["items"])')"
USERS=$(awk -F'\t' '{print $1}' "$T/data/interactions.tsv" | sort -un | head -100 | tr '\n' ' ')
appears() {   # how many of USERS (but the players) get brand-new in their ten
  "$PY" - "$PORT" "$1" $USERS <<'PYEOF'
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
skip, n = set(sys.argv[2].split(",")), 0
for u in sys.argv[3:]:
    if u in skip:
        continue
    c.request("POST", "/v1/models/demo:recommend", json.dumps({"user": u, "k": 10}),
              {"Content-Type": "application/json"})
    j = json.loads(c.getresponse().read())
    n += any(i["item"] == "brand-new" for i in j["items"])
print(n)
PYEOF
}
P1=$(echo $USERS | cut -d' ' -f10); P2=$(echo $USERS | cut -d' ' -f20); P3=$(echo $USERS | cut -d' ' -f30)
post "{\"user\":\"$P1\",\"item\":\"brand-new\",\"type\":\"play\"},{\"user\":\"$P2\",\"item\":\"brand-new\",\"type\":\"play\"},{\"user\":\"$P3\",\"item\":\"brand-new\",\"type\":\"play\"}" "new item plays"
N=$(appears "$P1,$P2,$P3")
check "new item: recommended to other users after 3 plays ($N of 97)" yes "$([ "$N" -ge 1 ] && echo yes)"
reco "{\"user\":\"$P1\",\"k\":1000}"
check "new item: not recommended to a user who played it" False "$(json "'brand-new' in [i['item'] for i in j['items']]")"
req POST /v1/models/demo:similar '{"item":"brand-new","k":5}'
check "new item: neighbours from its users" "200 5" "$STATUS $(json 'len(j["items"])')"
req POST /v1/models/demo:similar "{\"item\":\"$TOP\",\"k\":1000}"
check "new item: among a model item's neighbours, with its catalogue title" "Brand New (2026)" \
  "$(json '[i.get("title") for i in j["items"] if i["item"] == "brand-new"][0]')"
# new items take part in candidates, exclusions and tag filters (the catalogue's tags)
has() { json "'$1' in [i['item'] for i in j['items']]"; }
OTHER=$(echo $USERS | cut -d' ' -f40)
reco "{\"user\":\"$OTHER\",\"k\":2,\"candidates\":[\"brand-new\",\"$TOP\"]}"
check "new item: ranked among candidates" True "$(has brand-new)"
reco "{\"user\":\"$OTHER\",\"k\":1000,\"exclude\":[\"brand-new\"]}"
check "new item: left out when excluded" False "$(has brand-new)"
reco "{\"user\":\"$OTHER\",\"k\":1000,\"filter\":{\"tags\":[\"$GENRE\"]}}"
check "new item: kept by a filter on its catalogue tag" True "$(has brand-new)"
reco "{\"user\":\"$OTHER\",\"k\":1000,\"filter\":{\"tags\":[\"no-such-tag\",\"$GENRE\"]}}"
check "new item: kept when one of the filter's tags is unknown" True "$(has brand-new)"
OTHER_GENRE=$(awk -F, 'NR>1 {n=split($NF,g,"|"); for (i=1;i<=n;i++) c[g[i]]++} END {for (x in c) print c[x], x}' \
  "$T/data/items.csv" | sort -rn | sed -n 1p | cut -d' ' -f2)
reco "{\"user\":\"$OTHER\",\"k\":1000,\"filter\":{\"tags\":[\"$OTHER_GENRE\"]}}"
check "new item: left out by a filter on a tag it lacks" False "$(has brand-new)"
req POST /v1/models/demo:similar "{\"item\":\"$TOP\",\"k\":1000,\"filter\":{\"tags\":[\"$GENRE\"]}}"
check "new item: among similar items within a tag filter" True "$(has brand-new)"
req POST /v1/models/demo:recommend "{\"history\":[\"$TOP\"],\"k\":1000}"
check "new item: ranked for a user from a request history" "history True" "$(json 'j["source"]') $(has brand-new)"

# catalogue tags replace the model's in filters
TAGGED=$(awk -F, -v g="$OTHER_GENRE" 'NR>1 && $NF ~ g {print $1}' "$T/data/items.csv" | head -1)
req PUT "/v1/items/$TAGGED" '{"tags":["catalogue-only"]}' "${ADMIN[@]}"; check "put tags" 200 "$STATUS"
reco "{\"user\":\"$OTHER\",\"k\":1000,\"filter\":{\"tags\":[\"catalogue-only\"]}}"
check "catalogue tag: a filter on it finds the item (and only it)" "$TAGGED" "$(items)"
reco "{\"user\":\"$OTHER\",\"k\":1000,\"filter\":{\"tags\":[\"$OTHER_GENRE\"]}}"
check "catalogue tag: the model's tag no longer matches" "False yes" \
  "$(has "$TAGGED") $([ "$(json 'len(j["items"])')" -gt 5 ] && echo yes)"
req POST /v1/models/demo:similar "{\"item\":\"$TOP\",\"k\":1000,\"filter\":{\"tags\":[\"catalogue-only\"]}}"
check "catalogue tag: in a similar filter" "$TAGGED" "$(items)"

# catalogue tags replace the model's in a tag cap (max_per_tag): A and B share
# no genre in the model (the model's tags let both in); the catalogue gives
# them one tag, C and D others
genres() { awk -F, -v id="$1" 'NR > 1 && $1 == id { print $NF }' "$T/data/items.csv" | tr '|' '\n'; }
reco "{\"user\":\"$OTHER\",\"k\":60,\"exclude_seen\":false}"
LIST=$(items); A=${LIST%% *}; B=""; CD=""
for it in ${LIST#* }; do # B: the first without A's genres; C, D: the two after it
  if [ -n "$B" ]; then CD="$CD $it"; continue; fi
  [ -n "$(comm -12 <(genres "$A" | sort) <(genres "$it" | sort))" ] || B=$it
done
read -r C D _ <<<"$CD"
check "tag cap: four items found" yes "$([ -n "$D" ] && echo yes)"
req PUT "/v1/items/$A" '{"tags":["cat-same"]}' "${ADMIN[@]}"; check "put tags A" 200 "$STATUS"
req PUT "/v1/items/$B" '{"tags":["cat-same"]}' "${ADMIN[@]}"; check "put tags B" 200 "$STATUS"
req PUT "/v1/items/$C" '{"tags":["cat-c"]}' "${ADMIN[@]}"; check "put tags C" 200 "$STATUS"
req PUT "/v1/items/$D" '{"tags":["cat-d"]}' "${ADMIN[@]}"; check "put tags D" 200 "$STATUS"
reco "{\"user\":\"$OTHER\",\"k\":2,\"max_per_tag\":1,\"exclude_seen\":false,\"candidates\":[\"$A\",\"$B\",\"$C\",\"$D\"]}"
check "tag cap counts the catalogue's tags: B (A's catalogue tag) left out for C" "$A $C" "$(items)"

# a new item played by users the model lacks gets its vector from theirs (their events)
COLD=""
for c in cold-a cold-b cold-c; do
  EV=""
  for it in $PLAYS; do EV="$EV{\"user\":\"$c\",\"item\":\"$it\",\"type\":\"play\"},"; done
  COLD="$COLD$EV{\"user\":\"$c\",\"item\":\"cold-new\",\"type\":\"play\"},"
done
post "${COLD%,}" "cold users play a new item"
req POST /v1/models/demo:similar '{"item":"cold-new","k":5}'
check "new item of cold users: neighbours from their vectors" "200 5" "$STATUS $(json 'len(j["items"])')"
reco '{"user":"fresh-1","k":1000}'
check "new item of cold users: recommended to a cold user of the same taste" True "$(has cold-new)"

req DELETE /v1/items/brand-new "" "${ADMIN[@]}"
N=$(appears "$P1,$P2,$P3")
check "new item: withdrawn, recommended to no one" 0 "$N"

# ---- after a restart the users with events are read from the store again
check "reads counted for users with events" yes "$([ "$(metric encore_recommend_event_reads_total)" -gt "$READS0" ] && echo yes)"
kill -TERM "$SRV_PID"; wait "$SRV_PID" 2>/dev/null
e2e_start_server --models "$T/repo" --events "$T/store" --drain-seconds 0 || exit 1
reco '{"user":"fresh-1","k":10}'
check "restart: unknown user's events still used" events "$(json 'j["source"]')"
reco "{\"user\":\"$U\",\"k\":10}"
check "restart: known user's events still used" events "$(json 'j["source"]')"

# ---- erasure: no personal answer from the model or the events
req DELETE "/v1/users/$U" "" "${ADMIN[@]}"; check "erase" 200 "$STATUS"
reco "{\"user\":\"$U\",\"k\":10}"
check "erased: no personal vector" popular "$(json 'j["source"]')"
req GET /metrics
check_contains "metrics: no model-only answers while the store works" "encore_recommend_model_only_total 0" "$BODY"
e2e_finish
