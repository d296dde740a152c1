#!/usr/bin/env bash
# ops_reload_p99.sh - p99 latency with and without reloads, interleaved so
# that the load other processes put on a shared machine hits both alike.
#
#   bash bench/ops_reload_p99.sh BUILD_DIR [PAIRS] [WINDOW_S] [RELOADS_PER_WINDOW]
#   defaults: 6 pairs of 5 s windows, 2 reloads per reload window (12 reloads in 60 s)
#
# One server (2 HTTP threads, access log off, the demo ALS model). Windows
# alternate: wrk -t2 -c64 for WINDOW_S without reloads, then WINDOW_S while
# RELOADS_PER_WINDOW new versions are dropped into the repository (the file
# watch loads them). Prints every window's p99 and rps, then the medians and
# the ratio of medians; fails if any window had a non-2xx response or a
# socket error.
set -u
source "$(dirname "$0")/../tests/ops_lib.sh"
ops_init "$1"
PAIRS=${2:-6} WIN=${3:-5} PER=${4:-2}
command -v wrk >/dev/null || ops_skip "wrk is not installed"
ops_model demo
ops_start --threads 2 --access-log false
LUA=$OPS_TMP/post.lua
ops_wrk_lua "$LUA" '{"user":"u1","k":10}'
URL=$OPS_URL/v1/models/demo:recommend
wrk -t2 -c64 -d2s -s "$LUA" "$URL" >/dev/null 2>&1   # warm-up
gap=$(awk -v w="$WIN" -v n="$PER" 'BEGIN { printf "%.2f", w / (n + 1) }')
: >"$OPS_TMP/base.p99"
: >"$OPS_TMP/reload.p99"
total=0 bad=0
for p in $(seq 1 "$PAIRS"); do
    for kind in base reload; do
        wrk -t2 -c64 -d"${WIN}s" --latency -s "$LUA" "$URL" >"$OPS_TMP/w.txt" 2>&1 &
        w=$!
        if [ "$kind" = reload ]; then
            for i in $(seq 1 "$PER"); do
                sleep "$gap"
                ops_publish demo "$OPS_MODEL_FILE" >/dev/null
                total=$((total + 1))
            done
        fi
        wait $w
        ops_wrk_parse "$OPS_TMP/w.txt"
        echo "$W_P99_MS" >>"$OPS_TMP/$kind.p99"
        bad=$((bad + W_NON2XX + W_SOCKERR + W_CONNERR))
        printf 'pair %d %-6s p99 %8s ms  p50 %7s ms  %9s req/s  non2xx %s  socket errors %s\n' \
            "$p" "$kind" "$W_P99_MS" "$W_P50_MS" "$W_RPS" "$W_NON2XX" "$((W_SOCKERR + W_CONNERR))"
    done
done
med() { sort -g "$1" | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
mb=$(med "$OPS_TMP/base.p99") mr=$(med "$OPS_TMP/reload.p99")
served=$(curl -s "$OPS_URL/v1/models/demo" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
echo "RESULT reload_p99_interleaved pairs=$PAIRS window_s=$WIN reloads=$total served_version=$served median_p99_ms_without=$mb median_p99_ms_with=$mr ratio=$(awk -v a="$mr" -v b="$mb" 'BEGIN { printf "%.2f", a / b }') failed_requests=$bad load_average=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
ops_stop
[ "$bad" = 0 ] || ops_fail "$bad failed requests"
[ "$served" = $((total + 1)) ] || ops_fail "served version $served after $total reloads"
