#!/usr/bin/env bash
# catalog_http.sh - recommend over HTTP for a large catalogue with an item
# index against the ml-100k model, in the same run (issue #17's goal: at 1M
# items, at least half the requests/s of the ml-100k model).
#
#   bash bench/catalog_http.sh MODEL_DIR [-r ROUNDS=5] [-d SECONDS=3] [-c CONNS=16]
#
# MODEL_DIR is a model with an index and users u0.. (catalog_scale.sh
# --keep DIR leaves one in DIR/repo/big). ALS is trained on ml-100k with its
# user ids written u1..u943 so that one wrk user list (u1..u943) serves both
# models. Two encore-server processes (free ports, no access log), each
# serving its model as "movielens"; bench/ab_cpu.sh alternates short wrk runs
# between them (load from other jobs hits both alike) and reports server CPU
# per request and rps, medians over rounds: first plain requests (the big
# model answers from its index), then with "exact": true (every item
# scored). The machine is shared: server CPU per request is the figure to
# compare; the rps ratio is printed too. Ends with one JSON line.
# Binaries from $BUILD_DIR (default build/).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
DATA=${ENCORE_DATASETS:-$ROOT/../shared/datasets}
BIG=${1:?usage: catalog_http.sh MODEL_DIR [-r ROUNDS] [-d SECONDS] [-c CONNS]}
shift
ROUNDS=5 DUR=3 CONNS=16
while getopts "r:d:c:" o; do
  case $o in r) ROUNDS=$OPTARG ;; d) DUR=$OPTARG ;; c) CONNS=$OPTARG ;; *) exit 2 ;; esac
done
[ -f "$DATA/ml-100k/u.data" ] || { echo "catalog_http: needs $DATA/ml-100k (ENCORE_DATASETS)" >&2; exit 1; }
T=$(mktemp -d /tmp/catalog_http.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T"' EXIT
log() { echo "catalog_http: $*" >&2; }

awk -F'\t' '{ print "u" $1 "\t" $2 "\t" $3 "\t" $4 }' "$DATA/ml-100k/u.data" >"$T/u.data"
"$BUILD_DIR/encore-train" als --interactions "$T/u.data" --factors 64 \
  --out "$T/small/movielens" >/dev/null 2>"$T/train.log" || { cat "$T/train.log" >&2; exit 1; }
# The server refuses links that lead outside its repository: a hard link
# (or a copy) of the newest version's file.
v=$(ls "$BIG" | grep -E '^[0-9]+$' | sort -n | tail -1)
mkdir -p "$T/big/movielens/$v"
ln "$BIG/$v/model.safetensors" "$T/big/movielens/$v/" 2>/dev/null ||
  cp "$BIG/$v/model.safetensors" "$T/big/movielens/$v/"
seq 1 943 | sed 's/^/u/' >"$T/users.txt"

start() {  # REPO -> $PORT (the server runs in its own directory: its event store)
  local try i
  for try in 1 2 3 4 5; do
    PORT=$((20000 + (RANDOM * 7 + $$) % 40000))
    mkdir -p "$T/run.$PORT"
    (cd "$T/run.$PORT" && exec "$BUILD_DIR/encore-server" --host 127.0.0.1 --port "$PORT" \
      --models "$1" --access-log false --watch false) >"$T/server.$PORT.log" 2>&1 &
    PIDS+=($!)
    for i in $(seq 600); do
      if curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz"; then return 0; fi
      kill -0 "${PIDS[-1]}" 2>/dev/null || break
      sleep 0.1
    done
  done
  return 1
}
start "$T/small" || { log "the ml-100k server did not start"; exit 1; }
ps=$PORT
start "$T/big" || { log "the big-catalogue server did not start"; exit 1; }
pb=$PORT
for port in "$ps" "$pb"; do   # healthz answers before the models are loaded
  for i in $(seq 1200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/models/movielens")" = 200 ] && break
    sleep 0.1
  done
done
items=$(curl -s "http://127.0.0.1:$pb/v1/models/movielens" | /usr/bin/python3 -c \
  'import json,sys; j=json.load(sys.stdin); print(j["items"])' 2>/dev/null || echo 0)
for body in '{"user":"u3","k":10}' '{"user":"u3","k":10,"exact":true}'; do
  log "big model, $body -> $(curl -s -X POST -H "Content-Type: application/json" -d "$body" "http://127.0.0.1:$pb/v1/models/movielens:recommend" |
    /usr/bin/python3 -c 'import json,sys; j=json.load(sys.stdin); print(j.get("search"), len(j["items"]))')"
done

export RECO_USER_FILE="$T/users.txt" RECO_PATH=/v1/models/movielens:recommend
export ENCORE_SHARED=${ENCORE_SHARED:-$(dirname "$DATA")}   # ab_cpu.sh's wrk script
run() {  # LABEL -> "small_us small_rps big_us big_rps"
  local out
  out=$(bash "$HERE/ab_cpu.sh" -r "$ROUNDS" -d "$DUR" -c "$CONNS" \
    "http://127.0.0.1:$ps" "http://127.0.0.1:$pb")
  echo "$out" | sed "s/^/catalog_http: $1: /" >&2
  echo "$out" | awk -v a=":$ps" -v b=":$pb" 'index($1, a) { s = $2 " " $3 } index($1, b) { g = $2 " " $3 }
                                             END { print s, g }'
}
read -r s_us s_rps i_us i_rps <<<"$(run index)"
export RECO_BODY='{"user":"{user}","k":{k},"exact":true}'
read -r s2_us s2_rps e_us e_rps <<<"$(run exact)"
/usr/bin/python3 - "$items" "$s_us" "$s_rps" "$i_us" "$i_rps" "$s2_us" "$s2_rps" "$e_us" "$e_rps" \
  "$(cut -d' ' -f1 /proc/loadavg)" <<'EOF'
import json, sys
a = sys.argv[1:]
items = int(a[0]); s_us, s_rps, i_us, i_rps, s2_us, s2_rps, e_us, e_rps = map(float, a[1:9])
print(json.dumps({
    "items": items,
    "ml100k_srv_us_per_req": s_us, "index_srv_us_per_req": i_us,
    "index_vs_ml100k_cpu_ratio": round(s_us / i_us, 3),
    "index_vs_ml100k_rps_ratio": round(i_rps / s_rps, 3),
    "exact_srv_us_per_req": e_us, "ml100k_srv_us_per_req_exact_run": s2_us,
    "exact_vs_ml100k_cpu_ratio": round(s2_us / e_us, 3),
    "exact_vs_ml100k_rps_ratio": round(e_rps / s2_rps, 3),
    "load_avg": float(a[9])}, separators=(",", ":")))
EOF
