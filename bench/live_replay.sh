#!/usr/bin/env bash
# live_replay.sh - live recommendations against the static model on
# MovieLens, the replay protocol of issue #15 (bench/live_replay.py):
# train ALS on the positives (rating >= 4) before the 80th percentile of
# their timestamps, then replay the later ones in time order through
# POST /v1/events, asking :recommend (k = 10) before each one, on a live
# server (embedded event store) and a static one (events off).
#
#   bench/live_replay.sh ml-100k|ml-latest-small     (binaries from $BUILD_DIR, default build/)
#
# Ends with one JSON line: {"dataset":..,"known":{"events":N,"static_ndcg":..,
# "live_ndcg":..},"all":{"events":N,"live_ndcg":..,"popularity_ndcg":..},...}.
# Training options: $ALS_OPTS (default: encore-train's defaults with 64 factors).
# TUNE=1: first choose regularization and alpha (64 factors; reg 5 or 25,
# alpha 4 or 10) by the same replay on a nested time split of the training
# part (train before its 80th percentile, replay the rest: the test events
# are never seen), then run the test replay with the best ("all" NDCG@10).
# VALIDATION=1: only that nested (validation) replay, with $ALS_OPTS: for
# choosing anything about the method without looking at the test period.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${BUILD_DIR:-$root/build}
ds=${1:?usage: live_replay.sh ml-100k|ml-latest-small}
shared=${ENCORE_SHARED:-$root/../shared}
[ -d "$shared/datasets" ] || shared=/work/shared
case "$ds" in
  ml-100k) kind=udata ;;
  ml-latest-small) kind=ratings-csv ;;
  *) echo "unknown dataset $ds" >&2; exit 2 ;;
esac
dir=$shared/datasets/$ds
[ -d "$dir" ] || { echo "no $dir" >&2; exit 1; }
py=/usr/bin/python3
T=$(mktemp -d /tmp/encore-replay.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT

cutoff=$($py "$here/live_replay.py" prepare "$dir" "$kind" "$T")
echo "cutoff $cutoff: $(wc -l < "$T/train.tsv") training positives, $(wc -l < "$T/replay.tsv") replayed" >&2

start() {   # PORTVAR EVENTS REPO
  local port i
  for i in 1 2 3 4 5; do
    port=$(( 20000 + (RANDOM * 7 + $$ + i) % 40000 ))
    "$build/encore-server" --host 127.0.0.1 --port "$port" --models "$3" --events "$2" \
      --access-log false --drain-seconds 0 2>>"$T/server.log" &
    pids+=($!)
    for _ in $(seq 100); do
      if curl -s -o /dev/null "http://127.0.0.1:$port/readyz"; then eval "$1=$port"; return 0; fi
      sleep 0.1
    done
  done
  cat "$T/server.log" >&2
  return 1
}
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; pids=(); }

replay() {   # DIR ALS-OPTS...: train on DIR/train.tsv, replay DIR/replay.tsv, print the JSON
  local d=$1; shift
  rm -rf "$d/repo" "$d/events"
  "$build/encore-train" als --interactions "$d/train.tsv" --format tsv --out "$d/repo/replay" \
    "$@" > /dev/null 2>"$T/train.log" || { cat "$T/train.log" >&2; exit 1; }
  start live_port "$d/events" "$d/repo"
  start static_port off "$d/repo"
  $py "$here/live_replay.py" run "$d" "$live_port" "$static_port" "$ds"
  stop_all
}

opts=(${ALS_OPTS:---factors 64})
if [ "${VALIDATION:-0}" = 1 ]; then
  mkdir -p "$T/nested"
  $py "$here/live_replay.py" prepare "$T" nested "$T/nested" > /dev/null
  replay "$T/nested" "${opts[@]}"
  exit 0
fi
if [ "${TUNE:-0}" = 1 ]; then
  mkdir -p "$T/nested"
  $py "$here/live_replay.py" prepare "$T" nested "$T/nested" > /dev/null
  best=-1
  for reg in 5 25; do
    for alpha in 4 10; do
      line=$(replay "$T/nested" --factors 64 --regularization "$reg" --alpha "$alpha" | tail -1)
      score=$(printf '%s' "$line" | $py -c 'import json,sys; print(json.load(sys.stdin)["all"]["live_ndcg"])')
      echo "nested: reg $reg alpha $alpha: all live NDCG@10 $score" >&2
      if $py -c "import sys; sys.exit(0 if $score > $best else 1)"; then
        best=$score; opts=(--factors 64 --regularization "$reg" --alpha "$alpha")
      fi
    done
  done
  echo "chosen on the nested split: ${opts[*]}" >&2
fi
replay "$T" "${opts[@]}"
