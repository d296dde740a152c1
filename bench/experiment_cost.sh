#!/usr/bin/env bash
# experiment_cost.sh - what serving through an experiment costs: the same
# server, the same ALS model (ml-100k, 64 factors), the same users, under the
# same wrk load (/work/shared/bench/compare.sh), asked through
#   /v1/models/als:recommend              (plain)
#   /v1/experiments/ab:recommend          (assignment, the answer's id, and
#                                          the counts written to the store)
# with the embedded event store; server CPU per request (srv_us/req) is the
# figure to compare on a loaded machine.
#   bench/experiment_cost.sh [compare.sh options, e.g. -d 10 -r 3 -c 16]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${BUILD_DIR:-$root/build}
shared=${ENCORE_SHARED:-$root/../shared}
[ -d "$shared/datasets" ] || shared=/work/shared
T=$(mktemp -d /tmp/encore-expcost.XXXXXX)
pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
"$build/encore-train" als --interactions "$shared/datasets/ml-100k/u.data" \
  --items "$shared/datasets/ml-100k/u.item" --factors 64 --out "$T/repo/als" >/dev/null 2>&1
cat >"$T/config.json" <<'EOF'
{"experiments": {"ab": {"salt": "cost", "variants": [
  {"name": "a", "model": "als", "weight": 50}, {"name": "b", "model": "als", "weight": 50}]}}}
EOF
for i in 1 2 3 4 5; do
  port=$(( 20000 + (RANDOM * 7 + $$ + i) % 40000 ))
  "$build/encore-server" --host 127.0.0.1 --port "$port" --models "$T/repo" --events "$T/events" \
    --config "$T/config.json" --access-log false --drain-seconds 0 2>>"$T/server.log" &
  pid=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/readyz" && break 2
    sleep 0.1
  done
  kill "$pid" 2>/dev/null; pid=
done
[ -n "$pid" ] || { cat "$T/server.log" >&2; exit 1; }
RECO_USER_MIN=1 RECO_USER_MAX=943 bash "$shared/bench/compare.sh" --target-pid "$pid" \
  --label plain "$@" "http://127.0.0.1:$port/v1/models/als:recommend" \
  "http://127.0.0.1:$port/v1/experiments/ab:recommend"
curl -s "http://127.0.0.1:$port/v1/experiments/ab" | head -c 600; echo
