#!/usr/bin/env bash
# e2e_big_users.sh - the user side of issue #17 at small scale: a model whose
# user factors are stored as binary16 (encore-train als --user-precision
# f16), served from its mapping (model_read_max_bytes 0 maps every file) by
# two server processes at once.
#   - the f16 model describes "user_precision": "f16" and ranks like the same
#     model trained with f32 users (same seed: the same factors, rounded);
#   - /metrics shows encore_model_file_mapped_bytes = the file's size and
#     encore_model_file_resident_bytes in (0, mapped];
#   - both processes answer the same, and the model file's pages are shared
#     between them (Shared_Clean of the mapping in /proc/PID/smaps) and never
#     written (Private_Dirty 0).
# bench/big_users.sh does the same at 10M users.
#
# Usage: tests/e2e_big_users.sh BUILD_DIR     (ctest passes it)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/e2e.sh"
e2e_init "${1:?usage: e2e_big_users.sh BUILD_DIR}"

"$BUILD/encore-train" demo-data --dir "$T/demo" --users 2000 >/dev/null 2>"$T/demo.log" \
  || { echo "demo-data failed:" >&2; cat "$T/demo.log" >&2; exit 1; }
for p in f32 f16; do
  "$BUILD/encore-train" als --interactions "$T/demo/interactions.tsv" --items "$T/demo/items.csv" \
    --out "$T/repo/u$p" --iterations 3 --factors 32 --user-precision "$p" >/dev/null 2>"$T/als_$p.log" \
    || { cat "$T/als_$p.log" >&2; exit 1; }
done
F16=$T/repo/uf16/1/model.safetensors
F32=$T/repo/uf32/1/model.safetensors
size16=$(stat -c %s "$F16")
size32=$(stat -c %s "$F32")
# 2000 users x 32 factors: 256,000 bytes of f32, 128,000 of f16
check "the f16 file is 128,000 bytes smaller" "128000" "$((size32 - size16))"

e2e_start_server --models "$T/repo" --model-read-max-bytes 0 --access-log false
PA=$PORT
A=$SRV_PID
req GET /v1/models/uf16
check "the f16 model says so" "f16" "$(json 'j["user_precision"]')"
req GET /v1/models/uf32
check "the f32 model says so" "f32" "$(json 'j["user_precision"]')"

# rankings: f16 users against f32 users, 20 users' top 10
same=0
for u in $(seq 1 100 2000); do
  req POST /v1/models/uf32:recommend "{\"user\": \"u$u\", \"k\": 10}"
  a=$(json '" ".join(i["item"] for i in j["items"])')
  req POST /v1/models/uf16:recommend "{\"user\": \"u$u\", \"k\": 10}"
  b=$(json '" ".join(i["item"] for i in j["items"])')
  same=$((same + $(comm -12 <(tr ' ' '\n' <<<"$a" | sort) <(tr ' ' '\n' <<<"$b" | sort) | wc -l)))
done
check "f16 users rank as f32 users (>= 190 of 200 items shared)" "yes" \
  "$([ "$same" -ge 190 ] && echo yes || echo "no: $same")"

metrics=$(curl -s "http://127.0.0.1:$PA/metrics")
mapped=$(awk '$1 ~ /^encore_model_file_mapped_bytes[{]model="uf16"/ {print $2}' <<<"$metrics")
resident=$(awk '$1 ~ /^encore_model_file_resident_bytes[{]model="uf16"/ {print $2}' <<<"$metrics")
check "/metrics: mapped bytes are the file's size" "$size16" "$mapped"
check "/metrics: resident bytes in (0, mapped]" "yes" \
  "$([ "${resident:-0}" -gt 0 ] && [ "$resident" -le "$size16" ] && echo yes || echo "no: $resident")"

# a second process serving the same repository (a new port on a bind race)
B=
# (set -e holds in a trap too: a kill of a server already gone must not end
# it before e2e_cleanup, which takes the script's status from $?)
trap 'rc=$?; set +e; [ -n "$B" ] && kill -KILL $B 2>/dev/null; (exit $rc); e2e_cleanup' EXIT
for try in 1 2 3 4 5; do
  PB=$((20000 + (RANDOM * 7 + $$ + try) % 40000))
  [ "$PB" != "$PA" ] || continue
  "$BUILD/encore-server" --host 127.0.0.1 --port "$PB" --models "$T/repo" \
    --model-read-max-bytes 0 --access-log false 2>"$T/server_b.log" &
  B=$!
  up=0
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PB/readyz")" = 200 ] && { up=1; break; }
    kill -0 "$B" 2>/dev/null || break
    sleep 0.1
  done
  [ "$up" = 1 ] && break
  kill -KILL "$B" 2>/dev/null || true
  wait "$B" 2>/dev/null || true
done
[ "$up" = 1 ] || { echo "the second server did not start:" >&2; cat "$T/server_b.log" >&2; exit 1; }
ra=$(curl -s -X POST -H 'Content-Type: application/json' -d '{"user": "u77", "k": 10}' "http://127.0.0.1:$PA/v1/models/uf16:recommend")
rb=$(curl -s -X POST -H 'Content-Type: application/json' -d '{"user": "u77", "k": 10}' "http://127.0.0.1:$PB/v1/models/uf16:recommend")
check_contains "the second process answers" '"items"' "$rb"
check "both processes answer the same" "$ra" "$rb"

# the model file's mapping in each process: kB Shared_Clean and Private_Dirty
mapping() {
  awk -v f="$2" '
    /^[0-9a-f]+-[0-9a-f]+ / { on = index($0, f) > 0; next }
    on && /^Shared_Clean:/ { sc += $2 }
    on && /^Private_Dirty:/ { pd += $2 }
    END { print sc + 0, pd + 0 }' "/proc/$1/smaps"
}
read -r sca pda < <(mapping "$A" "$F16")
read -r scb pdb < <(mapping "$B" "$F16")
# every page was read at load (checksum, validation): all of it shared
check "process A shares the file's pages (Shared_Clean >= half the file)" "yes" \
  "$([ $((sca * 1024)) -ge $((size16 / 2)) ] && echo yes || echo "no: $sca kB")"
check "process B shares the file's pages" "yes" \
  "$([ $((scb * 1024)) -ge $((size16 / 2)) ] && echo yes || echo "no: $scb kB")"
check "no page of the mapping is private and dirty" "0 0" "$pda $pdb"
kill "$B"
wait "$B" 2>/dev/null || true
e2e_sanitizer_check "$T/server_b.log" || FAIL=$((FAIL + 1))
e2e_finish
