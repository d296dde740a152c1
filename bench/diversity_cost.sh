#!/usr/bin/env bash
# diversity_cost.sh - what re-ranking costs (issue #16's goal: <= 1.5x the CPU
# of a plain recommend at k = 10, diversity 0.3): one server, ALS on ml-100k
# (64 factors), three back-to-back wrk runs of /work/shared/bench/compare.sh on
# :recommend, the plain body, the same body with "diversity": 0.3, and a
# plain k = 30 (the pool diversity 0.3 re-ranks at k = 10); compare
# server CPU per request (srv_us/req) on a loaded machine.
#   bench/diversity_cost.sh [compare.sh options, e.g. -d 10 -r 3 -c 16]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${BUILD_DIR:-$root/build}
shared=${ENCORE_SHARED:-$root/../shared}
[ -d "$shared/datasets" ] || shared=/work/shared
T=$(mktemp -d /tmp/encore-divcost.XXXXXX)
pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
"$build/encore-train" als --interactions "$shared/datasets/ml-100k/u.data" \
  --items "$shared/datasets/ml-100k/u.item" --factors 64 --out "$T/repo/als" >/dev/null 2>&1
for i in 1 2 3 4 5; do
  port=$(( 20000 + (RANDOM * 7 + $$ + i) % 40000 ))
  "$build/encore-server" --host 127.0.0.1 --port "$port" --models "$T/repo" --events off \
    --access-log false --drain-seconds 0 2>>"$T/server.log" &
  pid=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/readyz" && break 2
    sleep 0.1
  done
  kill "$pid" 2>/dev/null; pid=
done
[ -n "$pid" ] || { cat "$T/server.log" >&2; exit 1; }
url="http://127.0.0.1:$port/v1/models/als:recommend"
for body in '{"user":"{user}","k":{k}}' '{"user":"{user}","k":{k},"diversity":0.3}' '{"user":"{user}","k":30}'; do
  echo "== body $body"
  RECO_BODY=$body RECO_USER_MIN=1 RECO_USER_MAX=943 bash "$shared/bench/compare.sh" \
    --target-pid "$pid" --label "$(case $body in *diversity*) echo mmr-0.3 ;; *30*) echo plain-k30 ;; *) echo plain ;; esac)" \
    "$@" "$url" 2>&1 | sed -n '/^Results/,$p'
done
