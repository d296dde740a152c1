#!/usr/bin/env bash
# big_users.sh - a model with a very large user base (default 10M users x 64
# factors: 2.56 GB of f32 user factors), imported without training, then
# served by two encore-server processes at once: load time, memory, what
# /metrics says of the mapping, and proof that the two processes share the
# mapped pages (Pss and Shared_Clean from /proc/PID/smaps_rollup).
#
#   bash bench/big_users.sh [--users N] [--items N] [--precision "f32 f16"]
#                           [--work DIR] [--keep]
#
# Binaries from $BUILD_DIR (default build/, built if absent). Factors come
# from bench/users_synth.py (a random mixture: nothing trained, this
# measures loading and serving) and are kept in --work for a second run.
# For each user precision (encore-train import --user-precision), one JSON
# line: import time and peak RSS, file size, the load time each server
# reports (encore_model_load_seconds: A cold, B warm), its wall time to
# /readyz and its CPU time by then (the load's cost on a busy machine), each
# server's RSS split into file-backed and anonymous memory, its Pss, and the
# mapped / resident bytes /metrics shows. Server A starts with the file
# dropped from the page cache (dd iflag=nocache: this file only; fincore
# says how much was left), B with it cached by A.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
users=10000000
items=10000
precisions="f32 f16"
work=""
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
    --users) users=$2; shift 2 ;;
    --items) items=$2; shift 2 ;;
    --precision) precisions=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "big_users.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -x /usr/bin/time ] || { echo "big_users.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
if [ ! -x "$BUILD_DIR/encore-train" ] || [ ! -x "$BUILD_DIR/encore-server" ]; then
    cmake -S . -B "$BUILD_DIR" >/dev/null
    cmake --build "$BUILD_DIR" -j2 --target encore-train encore-server >/dev/null
fi
if [ -z "$work" ]; then
    work=$(mktemp -d)
fi
mkdir -p "$work"
fac="$work/factors_$users"
[ -s "$fac/user_factors.npy" ] || nice /usr/bin/python3 bench/users_synth.py --users "$users" \
    --items "$items" --out "$fac" >&2

pids=()
stop_servers() {
    local p
    for p in "${pids[@]+"${pids[@]}"}"; do kill "$p" 2>/dev/null || true; done
    # not this shell's children (started in a process substitution): poll
    for p in "${pids[@]+"${pids[@]}"}"; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
    pids=()
}
cleanup() {
    set +e
    stop_servers
    [ "$keep" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# start_server REPO LOG -> prints "PID PORT WALL_SECONDS" once /readyz is 200
start_server() {
    local repo=$1 log=$2 port t0 pid i
    for _ in 1 2 3 4 5; do
        port=$((20000 + (RANDOM * 7 + $$) % 40000))
        t0=$(date +%s.%N)
        ENCORE_EVENTS="$log.events" "$BUILD_DIR/encore-server" --host 127.0.0.1 --port "$port" \
            --models "$repo" --threads 2 --access-log false --drain-seconds 0 2>"$log" &
        pid=$!
        for i in $(seq 1200); do
            if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ]; then
                echo "$pid $port $(echo "$(date +%s.%N) - $t0" | bc)"
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    echo "big_users.sh: the server did not become ready; log:" >&2
    cat "$log" >&2
    return 1
}

# smaps PID -> "rss pss shared_clean private_clean private_dirty anonymous" (bytes)
smaps() {
    awk '/^Rss:/{r=$2} /^Pss:/{p=$2} /^Shared_Clean:/{sc=$2} /^Private_Clean:/{pc=$2}
         /^Private_Dirty:/{pd=$2} /^Anonymous:/{a=$2}
         END{printf "%.0f %.0f %.0f %.0f %.0f %.0f\n", r*1024, p*1024, sc*1024, pc*1024, pd*1024, a*1024}' "/proc/$1/smaps_rollup"
}

# cpu_s PID -> user + system CPU seconds of the process so far (at /readyz:
# its load, as good as all of it)
cpu_s() {
    awk -v t="$(getconf CLK_TCK)" '{printf "%.2f\n", ($14 + $15) / t}' "/proc/$1/stat"
}

metric() { # metric PORT NAME -> the value of the first series of NAME
    curl -s "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 ~ "^"n"[{]" && !v {v = $2} END {print v}'
}

for prec in $precisions; do
    repo="$work/repo_${users}_$prec"
    if [ ! -s "$repo/big/1/model.safetensors" ]; then
        rm -rf "$repo"
        nice /usr/bin/time -v "$BUILD_DIR/encore-train" import \
            --user-factors "$fac/user_factors.npy" --item-factors "$fac/item_factors.npy" \
            --user-ids "$fac/user_ids.txt" --item-ids "$fac/item_ids.txt" \
            --user-precision "$prec" --out "$repo/big" >"$work/import_$prec.json" \
            2>"$work/import_$prec.log" || { cat "$work/import_$prec.log" >&2; exit 1; }
    fi
    import_s=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$work/import_$prec.json" 2>/dev/null || echo null)
    import_rss=$(awk '/Maximum resident set size/{printf "%.0f\n", $6 * 1024}' "$work/import_$prec.log" 2>/dev/null || echo null)
    file_bytes=$(stat -c %s "$repo/big/1/model.safetensors")

    # server A starts cold: the file's pages are dropped from the page cache
    # first (posix_fadvise DONTNEED through dd; this file only, nothing else
    # on the machine), so it reads the file from disk; B finds them cached.
    dd if="$repo/big/1/model.safetensors" iflag=nocache count=0 status=none
    cached=$(fincore --bytes --noheadings --output RES "$repo/big/1/model.safetensors" 2>/dev/null | tr -d " " || echo null)
    read -r pa porta walla < <(start_server "$repo" "$work/server_a_$prec.log")
    pids+=("$pa")
    cpu_a=$(cpu_s "$pa")
    read -r pb portb wallb < <(start_server "$repo" "$work/server_b_$prec.log")
    pids+=("$pb")
    cpu_b=$(cpu_s "$pb")
    # one recommendation from each: the same answer
    q='{"user":"u1234567","k":10}'
    [ "$users" -gt 1234567 ] || q='{"user":"u12","k":10}'
    ra=$(curl -s -X POST -H 'Content-Type: application/json' -d "$q" "http://127.0.0.1:$porta/v1/models/big:recommend")
    rb=$(curl -s -X POST -H 'Content-Type: application/json' -d "$q" "http://127.0.0.1:$portb/v1/models/big:recommend")
    same=false
    [ -n "$ra" ] && [ "$ra" = "$rb" ] && case "$ra" in *'"items"'*) same=true ;; esac
    read -r rss_a pss_a sc_a pc_a pd_a an_a < <(smaps "$pa")
    read -r rss_b pss_b sc_b pc_b pd_b an_b < <(smaps "$pb")
    load_a=$(metric "$porta" encore_model_load_seconds)
    load_b=$(metric "$portb" encore_model_load_seconds)
    mapped=$(metric "$porta" encore_model_file_mapped_bytes)
    resident=$(metric "$porta" encore_model_file_resident_bytes)
    stop_servers
    cat <<EOF
{"users":$users,"items":$items,"factors":64,"user_precision":"$prec","file_bytes":$file_bytes,"import_s":$import_s,"import_peak_rss_bytes":${import_rss:-null},"cached_before_a_bytes":$cached,"load_s":[$load_a,$load_b],"load_cpu_s":[$cpu_a,$cpu_b],"ready_wall_s":[$walla,$wallb],"same_answer":$same,"metrics_mapped_bytes":${mapped:-null},"metrics_resident_bytes":${resident:-null},"rss_bytes":[$rss_a,$rss_b],"pss_bytes":[$pss_a,$pss_b],"shared_clean_bytes":[$sc_a,$sc_b],"private_clean_bytes":[$pc_a,$pc_b],"private_dirty_bytes":[$pd_a,$pd_b],"anonymous_bytes":[$an_a,$an_b]}
EOF
done
