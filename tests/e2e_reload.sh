#!/usr/bin/env bash
# e2e_reload.sh - hot reload under load, and refusals that keep the old
# version serving.
#
#   bash tests/e2e_reload.sh BUILD_DIR
#   ENCORE_OPS_FULL=1 bash tests/e2e_reload.sh BUILD_DIR   # 30 s, 10 reloads
#
# 1. wrk -c64 for D s without reloads (baseline p99), then D s while N new
#    versions are dropped into the repository (atomic rename; the file
#    watch loads them on libuv's worker pool): 0 non-2xx responses and 0
#    socket errors in both runs, every version served at the end.
# 2. A corrupt version (truncated file) and an incompatible one (bad format
#    version) are refused, counted in encore_model_load_failures_total, and
#    the previous version keeps answering.
#    SIGHUP does not retry (and count) the refused version again.
# 3. SIGHUP picks up a version published while the watch is off.
# 4. New model directories (renamed in whole, or created empty and given a
#    version later) are found by the repository watch.
# Prints "RESULT ..." lines that bench/results/operations.md quotes.
set -u
source "$(dirname "$0")/ops_lib.sh"
ops_init "$1"
e2e_need wrk command -v wrk

if [ -n "${ENCORE_OPS_FULL:-}" ]; then DUR=30 N=10; else DUR=${ENCORE_RELOAD_SECONDS:-10} N=${ENCORE_RELOADS:-5}; fi
ops_model demo
ops_start --threads 2 --access-log false --versions-kept 1
LUA=$OPS_TMP/post.lua
ops_wrk_lua "$LUA" '{"user":"u1","k":10}'
curl -sf -H 'Content-Type: application/json' -d '{"user":"u1","k":10}' \
    "$OPS_URL/v1/models/demo:recommend" >/dev/null || ops_fail "recommend does not answer 200"

# ---- 1. baseline, then the same load with reloads ----------------------
wrk -t2 -c64 -d"${DUR}s" --latency -s "$LUA" "$OPS_URL/v1/models/demo:recommend" >"$OPS_TMP/base.txt" 2>&1
ops_wrk_parse "$OPS_TMP/base.txt"
B_P99=$W_P99_MS B_REQS=$W_REQS B_RPS=$W_RPS
[ -n "$W_REQS" ] || ops_fail "wrk produced no summary: $(cat "$OPS_TMP/base.txt")"
[ "$W_NON2XX" = 0 ] || ops_fail "baseline: $W_NON2XX non-2xx responses"
[ "$W_SOCKERR" = 0 ] && [ "$W_CONNERR" = 0 ] || ops_fail "baseline: socket errors: $(grep Socket "$OPS_TMP/base.txt")"

wrk -t2 -c64 -d"${DUR}s" --latency -s "$LUA" "$OPS_URL/v1/models/demo:recommend" >"$OPS_TMP/reload.txt" 2>&1 &
WRK=$!
OPS_BG_PIDS=$WRK
gap=$(awk -v d="$DUR" -v n="$N" 'BEGIN { printf "%.2f", d / (n + 1) }')
for i in $(seq 1 "$N"); do
    sleep "$gap"
    ops_publish demo "$OPS_MODEL_FILE" >/dev/null
done
wait $WRK
OPS_BG_PIDS=
ops_wrk_parse "$OPS_TMP/reload.txt"
[ -n "$W_REQS" ] || ops_fail "wrk produced no summary: $(cat "$OPS_TMP/reload.txt")"
want=$((N + 1))
for i in $(seq 1 50); do
    v=$(curl -s "$OPS_URL/v1/models/demo" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
    [ "$v" = "$want" ] && break
    sleep 0.1
done
[ "$v" = "$want" ] || ops_fail "serving version $v after $N reloads, expected $want"
reloads=$(curl -s "$OPS_URL/metrics" | awk '$1 == "encore_model_reloads_total" { print $2 }')
[ "$reloads" = "$N" ] || ops_fail "encore_model_reloads_total is $reloads, expected $N"
ratio=$(awk -v a="$W_P99_MS" -v b="$B_P99" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
echo "RESULT reload_under_load duration_s=$DUR reloads=$N requests=$W_REQS rps=$W_RPS non2xx=$W_NON2XX socket_errors=$((W_SOCKERR + W_CONNERR)) p99_ms=$W_P99_MS baseline_requests=$B_REQS baseline_rps=$B_RPS baseline_p99_ms=$B_P99 p99_ratio=$ratio"
[ "$W_NON2XX" = 0 ] || ops_fail "$W_NON2XX non-2xx responses during reloads"
[ "$W_SOCKERR" = 0 ] && [ "$W_CONNERR" = 0 ] || ops_fail "socket errors during reloads: $(grep Socket "$OPS_TMP/reload.txt")"
if [ -n "${ENCORE_OPS_FULL:-}" ]; then
    # A second baseline after the reloads: how much p99 moves between two
    # runs without reloads on this machine (the noise floor for the ratio).
    wrk -t2 -c64 -d"${DUR}s" --latency -s "$LUA" "$OPS_URL/v1/models/demo:recommend" >"$OPS_TMP/base2.txt" 2>&1
    R_P99=$W_P99_MS
    ops_wrk_parse "$OPS_TMP/base2.txt"
    echo "RESULT reload_noise_floor baseline_p99_ms=$B_P99 reload_p99_ms=$R_P99 baseline2_p99_ms=$W_P99_MS baseline2_rps=$W_RPS baseline2_vs_baseline=$(awk -v a="$W_P99_MS" -v b="$B_P99" 'BEGIN { printf "%.2f", a / b }') reload_vs_mean_baseline=$(awk -v r="$R_P99" -v a="$B_P99" -v b="$W_P99_MS" 'BEGIN { printf "%.2f", 2 * r / (a + b) }')"
fi

# ---- 2. refused versions ------------------------------------------------
fails0=$(curl -s "$OPS_URL/metrics" | awk '$1 == "encore_model_load_failures_total" { print $2 }')
head -c 3000 "$OPS_MODEL_FILE" >"$OPS_TMP/truncated.safetensors"
bad=$(ops_publish demo "$OPS_TMP/truncated.safetensors")
# An incompatible file: same size, format_version "1" -> "9" in the header.
python3 - "$OPS_MODEL_FILE" "$OPS_TMP/future.safetensors" <<'PY'
import sys
b = open(sys.argv[1], 'rb').read()
k = b.find(b'"format_version":"1"')
if k < 0:
    k = b.find(b'"format_version": "1"')
assert k >= 0, "no format_version in the header"
j = b.index(b'"1"', k + 16)
open(sys.argv[2], 'wb').write(b[:j] + b'"9"' + b[j + 3:])
PY
bad2=$(ops_publish demo "$OPS_TMP/future.safetensors")
for i in $(seq 1 50); do
    fails=$(curl -s "$OPS_URL/metrics" | awk '$1 == "encore_model_load_failures_total" { print $2 }')
    [ "$fails" -ge $((fails0 + 2)) ] && break
    sleep 0.1
done
[ "$fails" -ge $((fails0 + 2)) ] || ops_fail "corrupt versions not counted: load failures $fails0 -> $fails"
grep -q "version $bad refused" "$OPS_TMP/server.log" || ops_fail "no log line for refused version $bad"
grep -q "version $bad2 refused" "$OPS_TMP/server.log" || ops_fail "no log line for refused version $bad2"
v=$(curl -s -H 'Content-Type: application/json' -d '{"user":"u1","k":3}' "$OPS_URL/v1/models/demo:recommend" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
[ "$v" = "$want" ] || ops_fail "after refused versions, served version is $v (expected $want)"
# A refused version is not retried (logged, counted) again on every event.
kill -HUP "$OPS_PID"
sleep 0.5
again=$(curl -s "$OPS_URL/metrics" | awk '$1 == "encore_model_load_failures_total" { print $2 }')
[ "$again" = "$fails" ] || ops_fail "SIGHUP retried the refused version: load failures $fails -> $again"
echo "RESULT refused_versions truncated=$bad incompatible=$bad2 load_failures=$fails served_version=$v"
rm -rf "$OPS_REPO/demo/$bad" "$OPS_REPO/demo/$bad2"
ops_stop
[ "$OPS_EXIT" = 0 ] || ops_fail "server exit status $OPS_EXIT"

# ---- 3. SIGHUP without the watch ----------------------------------------
ops_start --watch false --rescan-seconds 0 --access-log false
next=$(ops_publish demo "$OPS_MODEL_FILE")
sleep 0.3
v=$(curl -s "$OPS_URL/v1/models/demo" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
[ "$v" != "$next" ] || ops_fail "watch false, yet version $next was loaded without SIGHUP"
kill -HUP "$OPS_PID"
for i in $(seq 1 50); do
    v=$(curl -s "$OPS_URL/v1/models/demo" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
    [ "$v" = "$next" ] && break
    sleep 0.1
done
[ "$v" = "$next" ] || ops_fail "SIGHUP did not load version $next (serving $v)"
ops_stop
[ "$OPS_EXIT" = 0 ] || ops_fail "server exit status $OPS_EXIT"

# ---- 4. new models appear while serving (the repository watch) -----------
ops_start --access-log false
mkdir -p "$OPS_REPO/.incoming/1"
cp "$OPS_MODEL_FILE" "$OPS_REPO/.incoming/1/model.safetensors"
mv "$OPS_REPO/.incoming" "$OPS_REPO/second"          # a whole model directory at once
mkdir "$OPS_REPO/third"                               # an empty one, its version later
sleep 0.3
ops_publish third "$OPS_MODEL_FILE" >/dev/null
for m in second third; do
    for i in $(seq 1 50); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$OPS_URL/v1/models/$m")" = 200 ] && break
        sleep 0.1
    done
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$OPS_URL/v1/models/$m")" = 200 ] || ops_fail "new model $m not loaded by the watch"
done
n=$(curl -s "$OPS_URL/metrics" | awk '$1 == "encore_models_loaded" { print $2 }')
[ "$n" = 3 ] || ops_fail "encore_models_loaded is $n, expected 3"
ops_stop
[ "$OPS_EXIT" = 0 ] || ops_fail "server exit status $OPS_EXIT"
echo "RESULT new_models_by_watch loaded=$n"
echo "PASS e2e_reload"
