#!/usr/bin/env bash
# e2e_experiments.sh - issue #16's A/B experiments end to end over two real
# models (ALS and BPR on the demo data), with the embedded event store:
# every user gets the variant SHA-256(salt, experiment, user) names, sticky;
# events with recommendation ids are attributed (hits: a positive event on a
# listed item; retried event ids count once; foreign ids are stored, not
# counted); the report's counts, hit rates and CIs are exactly what was sent
# (tests/experiments_drive.py computes them independently); bad requests get
# 400/404; SIGHUP reloads the experiments and keeps them on a bad file.
# With redis-server installed, the same over two replicas sharing a Redis:
# recommendations on one, events on both, the report from the other.
#   Usage: bash tests/e2e_experiments.sh BUILD_DIR
. "$(dirname "$0")/lib/e2e.sh"
e2e_init "$1"

"$BUILD/encore-train" demo-data --dir "$T/data" --users 300 --items 150 >/dev/null 2>"$T/demo.log" ||
  { cat "$T/demo.log"; exit 1; }
"$BUILD/encore-train" als --interactions "$T/data/interactions.tsv" --items "$T/data/items.csv" \
  --out "$T/repo/demo-als" --factors 8 --iterations 3 >/dev/null 2>"$T/train.log" ||
  { cat "$T/train.log"; exit 1; }
"$BUILD/encore-train" bpr --interactions "$T/data/interactions.tsv" --items "$T/data/items.csv" \
  --out "$T/repo/demo-bpr" --factors 8 --epochs 5 >/dev/null 2>"$T/train.log" ||
  { cat "$T/train.log"; exit 1; }
awk -F'\t' '!seen[$1]++ {print $1}' "$T/data/interactions.tsv" | head -80 >"$T/users.txt"

cat >"$T/config.json" <<'EOF'
{"experiments": {
  "home": {"salt": "2026-12", "variants": [
    {"name": "als", "model": "demo-als", "weight": 50},
    {"name": "bpr", "model": "demo-bpr", "weight": 50, "params": {"diversity": 0.3}}]},
  "aa": {"salt": "x", "variants": [
    {"name": "a1", "model": "demo-als", "weight": 1},
    {"name": "a2", "model": "demo-als", "weight": 1}]}}}
EOF
e2e_start_server --config "$T/config.json" --models "$T/repo" --events "$T/store" \
  --drain-seconds 0 || exit 1

"$PY" "$E2E_SRC/tests/experiments_drive.py" "$T/config.json" home "$T/users.txt" "$PORT" \
  >"$T/drive.log" 2>&1
check "embedded store: $(tail -1 "$T/drive.log")" 0 $?
grep FAIL "$T/drive.log" >&2

# the variant's request defaults apply: diversity 0.3 for bpr changes nothing
# of the fields; a request's own value wins
U=$(head -1 "$T/users.txt")
req POST /v1/experiments/home:recommend "{\"user\":\"$U\",\"k\":3}"
check "answer: 200 with k items" "200 3" "$STATUS $(json 'len(j["items"])')"
check "answer: the fields" "True" "$(json 'all(k in j for k in ("experiment","variant","recommendation_id","model","version"))')"

# ---- bad requests
req POST /v1/experiments/nope:recommend "{\"user\":\"$U\"}"
check "unknown experiment: 404" 404 "$STATUS"
req GET /v1/experiments/nope
check "unknown experiment report: 404" 404 "$STATUS"
req POST /v1/experiments/home:recommend '{"k":5}'
check "no user: 400" 400 "$STATUS"
check_contains "no user: says so" "user" "$BODY"
req POST /v1/experiments/home:recommend "{\"user\":\"$U\",\"k\":41}"
check "k over 40: 400" 400 "$STATUS"
req POST /v1/experiments/home:recommend "{\"user\":\"$U\",\"typo\":1}"
check "unknown field: 400" 400 "$STATUS"
req POST /v1/experiments/home:recommend "{\"user\":\"$U\",\"k\":\"ten\"}"
check "bad k: 400" 400 "$STATUS"

# ---- SIGHUP: a new experiment appears; a bad file keeps the running ones
sed 's/"aa"/"fresh"/' "$T/config.json" >"$T/config.new" && mv "$T/config.new" "$T/config.json"
kill -HUP "$SRV_PID"
for i in $(seq 50); do
  req GET /v1/experiments/fresh
  [ "$STATUS" = 200 ] && break
  sleep 0.1
done
check "SIGHUP: the new experiment is served" 200 "$STATUS"
req GET /v1/experiments/aa
check "SIGHUP: the removed one is gone" 404 "$STATUS"
echo '{"experiments": {"home": {"salt": ""}}}' >"$T/config.json"
kill -HUP "$SRV_PID"
for i in $(seq 50); do
  grep -q "experiments not reloaded" "$T/server.log" && break
  sleep 0.1
done
check_contains "SIGHUP with a bad file: logged" "experiments not reloaded" "$(cat "$T/server.log")"
req GET /v1/experiments/fresh
check "SIGHUP with a bad file: the running experiments stay" 200 "$STATUS"

# a bad experiments section at startup is a configuration error (exit 2)
"$BUILD/encore-server" --config "$T/config.json" --models "$T/repo" --port 1 >/dev/null 2>"$T/bad.log"
check "bad experiments at startup: exit 2" 2 $?
check_contains "bad experiments at startup: names the field" "experiments.home.salt" "$(cat "$T/bad.log")"

# ---- two replicas sharing a Redis
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
  cat >"$T/config.json" <<'EOF'
{"experiments": {"home": {"salt": "2026-12", "control": "bpr", "variants": [
    {"name": "als", "model": "demo-als", "weight": 30},
    {"name": "bpr", "model": "demo-bpr", "weight": 70}]}}}
EOF
  RPORT=
  for try in 1 2 3 4 5; do
    RPORT=$(( 20000 + (RANDOM * 7 + $$ + try) % 40000 ))
    redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$T" --save '' --appendonly no \
      --logfile "$T/redis.log" &
    REDIS_PID=$!
    ok=
    for i in $(seq 100); do
      [ "$(redis-cli -p "$RPORT" CONFIG GET dir 2>/dev/null | tail -1)" = "$T" ] && { ok=1; break; }
      kill -0 "$REDIS_PID" 2>/dev/null || break
      sleep 0.1
    done
    [ -n "$ok" ] && break
    kill -KILL "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null; REDIS_PID=
  done
  if [ -z "$REDIS_PID" ]; then
    check "redis-server started" ok failed
  else
    kill -TERM "$SRV_PID"; wait "$SRV_PID" 2>/dev/null
    e2e_start_server --config "$T/config.json" --models "$T/repo" \
      --events "redis://127.0.0.1:$RPORT" --drain-seconds 0 || exit 1
    PORT_A=$PORT PID_A=$SRV_PID
    cp "$T/server.log" "$T/server-a.log"
    # replica B: started by hand (the library tracks one server)
    for try in 1 2 3 4 5; do
      PORT_B=$(( 20000 + (RANDOM * 7 + $$ + 31 * try) % 40000 ))
      "$BUILD/encore-server" --host 127.0.0.1 --port "$PORT_B" --config "$T/config.json" \
        --models "$T/repo" --events "redis://127.0.0.1:$RPORT" --drain-seconds 0 2>"$T/b.log" &
      PID_B=$!
      ok=
      for i in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$PORT_B/healthz" && { ok=1; break; }
        kill -0 "$PID_B" 2>/dev/null || break
        sleep 0.1
      done
      [ -n "$ok" ] && break
      kill -KILL "$PID_B" 2>/dev/null; wait "$PID_B" 2>/dev/null; PID_B=
    done
    "$PY" "$E2E_SRC/tests/experiments_drive.py" "$T/config.json" home "$T/users.txt" \
      "$PORT_A" "$PORT_B" >"$T/drive2.log" 2>&1
    check "two replicas, Redis: $(tail -1 "$T/drive2.log")" 0 $?
    grep FAIL "$T/drive2.log" >&2
    kill -TERM "$PID_B" 2>/dev/null; wait "$PID_B"
    check "replica B exits cleanly" 0 $?
    e2e_sanitizer_check "$T/b.log" || check "replica B: sanitizer clean" clean dirty
    kill -TERM "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null
  fi
else
  echo "redis-server not installed: the two-replica part is left out"
fi

e2e_finish
