#!/usr/bin/env bash
# reload_memory.sh - resident memory of encore-server at rest and at the peak
# of a reload (old and new version both in memory), for docs/deploy.md's
# memory sizing.
#   bash bench/reload_memory.sh [BUILD_DIR=build] [ITEMS=5000] [USERS=50000] [FACTORS=256]
# Prints the model's memory_bytes, VmRSS at rest, VmHWM across one reload
# (reset with /proc/PID/clear_refs first, so it is the reload's own peak), and
# VmRSS after it.
set -eu
B=$(cd "${1:-build}" && pwd); ITEMS=${2:-5000}; USERS=${3:-50000}; F=${4:-256}
T=$(mktemp -d /tmp/encore-reload-mem.XXXXXX); trap 'kill "$SP" 2>/dev/null; rm -rf "$T"' EXIT
"$B/encore-train" demo-data --dir "$T/d" --items "$ITEMS" --users "$USERS" --mean-interactions 30 >/dev/null 2>&1
"$B/encore-train" als --interactions "$T/d/interactions.tsv" --items "$T/d/items.csv" \
    --out "$T/repo/big" --factors "$F" --iterations 2 --threads 1 >/dev/null 2>&1
P=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ENCORE_ADMIN_TOKEN=bench "$B/encore-server" --models "$T/repo" --host 127.0.0.1 --port "$P" \
    --watch false --rescan-seconds 0 --access-log false 2>"$T/srv.log" & SP=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$P/readyz" && break; sleep 0.2; done
kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$SP/status"; }
mem=$(curl -s "http://127.0.0.1:$P/v1/models/big" | python3 -c 'import json,sys; print(json.load(sys.stdin)["memory_bytes"])')
rest=$(kb VmRSS); echo 5 > "/proc/$SP/clear_refs"
mkdir "$T/repo/big/.t" && cp "$T/repo/big/1/model.safetensors" "$T/repo/big/.t/" && mv "$T/repo/big/.t" "$T/repo/big/2"
curl -s -X POST -H 'Authorization: Bearer bench' "http://127.0.0.1:$P/v1/models/big:reload" >/dev/null
echo "RESULT reload_memory items=$ITEMS users=$USERS factors=$F model_memory_bytes=$mem rss_rest_kb=$rest rss_peak_reload_kb=$(kb VmHWM) rss_after_kb=$(kb VmRSS)"
