#!/usr/bin/env bash
# events_http.sh - event ingest over HTTP against recommend, side by side in
# one run against the same server (issue #15's ingest goals):
#
#   recommend      POST :recommend, random ml-100k users (../shared/bench/recommend.lua)
#   events x1      POST /v1/events with one event per request (bench/events.lua)
#   events x100    POST /v1/events with 100 events per request
#   recommend+ev   recommend again, now that the users have recorded events
#                  (their answers fold the events in: the live path)
#
# for the embedded store (LMDB in $OUT/events) and, when redis-server is
# installed, for a Redis store (a redis-server started here on a free port in
# $OUT/redis with appendonly yes, appendfsync always: the durable setting of
# docs/events.md). Each row is one ../shared/bench/compare.sh run (wrk, the
# server's CPU time per request srv_us/req, and bg% = the CPU other processes
# used meanwhile: this machine is shared). Ends with a table and the goals:
# single-event requests/s >= 0.5 x recommend requests/s; embedded >= 50,000
# events/s in requests of 100; Redis >= 20,000 events/s.
#
#   bash bench/events_http.sh [-d SECS] [-c CONNS] [--max-bg PCT] ...   (compare.sh options)
#   STORES="lmdb" bash bench/events_http.sh      only the embedded store
#
# Binaries from $BUILD (default build/); the model: ALS on ml-100k u.data
# (943 users x 1682 items x 64 factors), as bench/recommend_http.sh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
SHARED=${ENCORE_SHARED:-$ROOT/../shared}
[ -d "$SHARED/bench" ] || SHARED=/work/shared
BUILD=${BUILD:-$ROOT/build}
OUT=${OUT:-$(mktemp -d /tmp/encore-events-bench.XXXXXX)}
STORES=${STORES:-lmdb redis}
mkdir -p "$OUT"
[ -f "$SHARED/datasets/ml-100k/u.data" ] || { echo "needs $SHARED/datasets/ml-100k" >&2; exit 2; }
command -v wrk >/dev/null || { echo "needs wrk" >&2; exit 2; }
cmake --build "$BUILD" --target encore-server encore-train >/dev/null
"$BUILD/encore-train" als --interactions "$SHARED/datasets/ml-100k/u.data" \
  --items "$SHARED/datasets/ml-100k/u.item" --out "$OUT/repo/movielens" --factors 64 2>"$OUT/train.log"
echo "results and logs in $OUT" >&2

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap cleanup EXIT

start_server() {   # NAME EVENTS -> sets SRV_PID SRV_PORT
  SRV_PORT=$(free_port)
  "$BUILD/encore-server" --models "$OUT/repo" --host 127.0.0.1 --port "$SRV_PORT" \
    --drain-seconds 0 --events "$2" ${SERVER_ARGS:-} 2>"$OUT/server-$1.log" &
  SRV_PID=$!
  PIDS+=("$SRV_PID")
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$SRV_PORT/readyz" >/dev/null && return 0; sleep 0.1; done
  cat "$OUT/server-$1.log" >&2
  exit 1
}

SUMMARY="$OUT/summary.tsv"
printf 'store\trow\trps\tevents_per_s\tsrv_us_per_req\tsrv_us_per_event\tbg_pct\tp50_us\tp99_us\terrors\n' > "$SUMMARY"
row() {   # STORE ROW BATCH SCRIPT -- compare.sh args
  local store=$1 name=$2 batch=$3 script=$4; shift 4
  local dir="$OUT/$store-$name"
  bash "$SHARED/bench/compare.sh" -c "${CONNS:-64}" --out "$dir" --target-pid "$SRV_PID" \
    --label "$store-$name" -s "$script" "$@" "http://127.0.0.1:$SRV_PORT" > "$dir.txt" 2>&1 || true
  # results.tsv: server pin conns threads rep rps p50 p90 p99 p999 mean errors srv% wrk% bg% softirq% srv_us/req requests
  awk -F'\t' -v s="$store" -v r="$name" -v b="$batch" 'NR > 1 && $6 != "NA" {
      printf "%s\t%s\t%.0f\t%.0f\t%s\t%.2f\t%s\t%s\t%s\t%s\n", s, r, $6, $6 * b, $17, $17 / b, $15, $7, $9, $12
    }' "$dir/results.tsv" | tail -1 >> "$SUMMARY"
}

measure() {   # STORE
  export RECO_PATH=/v1/models/movielens:recommend
  row "$1" recommend 1 "$SHARED/bench/recommend.lua" "${ARGS[@]}"
  EVENTS_BATCH=1 row "$1" events_x1 1 "$HERE/events.lua" "${ARGS[@]}"
  EVENTS_BATCH=100 row "$1" events_x100 100 "$HERE/events.lua" "${ARGS[@]}"
  row "$1" recommend_after 1 "$SHARED/bench/recommend.lua" "${ARGS[@]}"
  curl -s "http://127.0.0.1:$SRV_PORT/metrics" | grep -E '^encore_events_(accepted|duplicates|store_failures|store_events)' \
    > "$OUT/$1-metrics.txt" || true
}

ARGS=("$@")
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt" >&2
for store in $STORES; do
  case $store in
    lmdb)
      start_server lmdb "$OUT/events"
      measure lmdb ;;
    redis)
      if ! command -v redis-server >/dev/null; then echo "no redis-server: Redis rows skipped" >&2; continue; fi
      RPORT=$(free_port)
      mkdir -p "$OUT/redis"
      redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$OUT/redis" --appendonly yes \
        --appendfsync always --save "" --maxmemory-policy noeviction --daemonize no \
        > "$OUT/redis.log" 2>&1 &
      PIDS+=("$!")
      for _ in $(seq 50); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
      start_server redis "redis://127.0.0.1:$RPORT"
      measure redis ;;
  esac
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt" >&2

echo
column -t -s $'\t' "$SUMMARY"
echo
awk -F'\t' 'NR > 1 { rps[$1 "/" $2] = $3; ev[$1 "/" $2] = $4; us[$1 "/" $2] = $6; st[$1] = 1 }
  END {
    for (s in st) {
      r = rps[s "/recommend"]; one = rps[s "/events_x1"]; hundred = ev[s "/events_x100"]
      if (r > 0) printf "%s: single-event requests/s / recommend requests/s = %.2f (goal >= 0.5)\n", s, one / r
      goal = s == "redis" ? 20000 : 50000
      printf "%s: events/s in requests of 100 = %.0f (goal >= %d); server CPU %.2f us per event", s, hundred, goal, us[s "/events_x100"]
      if (us[s "/events_x100"] > 0) printf " -> %.0f events/s per core of server CPU", 1e6 / us[s "/events_x100"]
      printf "\n"
    }
  }' "$SUMMARY"
