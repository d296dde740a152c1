# ops_lib.sh - shared by the operations end-to-end tests (tests/e2e_*.sh):
# a scratch directory, a model repository, starting and stopping the server
# on a free loopback port, publishing versions atomically, wrk parsing.
# Sourced, not run. Every helper fails the test loudly (ops_fail).
#
#   source "$(dirname "$0")/ops_lib.sh"; ops_init "$1"
#
# Models: `encore-train demo-data` + `encore-train als` when the trainer has
# demo-data, else `encore-train als` on a small synthetic TSV written here,
# else $ENCORE_TEST_MODEL (a model.safetensors) if set; otherwise the test
# fails.
#
# Skips exit 77 (shown by ctest as skipped) through lib/e2e.sh's e2e_skip and
# e2e_need, which are available here: `e2e_need wrk command -v wrk`. A
# sanitizer report in the server's log fails the test (e2e_sanitizer_check).
source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.sh"

ops_fail() { echo "FAIL: $*" >&2; ops_cleanup; exit 1; }
ops_skip() { ops_cleanup; e2e_skip "$*"; }
ops_note() { echo "# $*"; }

ops_cleanup() {
    if [ -n "${OPS_PID:-}" ] && kill -0 "$OPS_PID" 2>/dev/null; then
        kill -KILL "$OPS_PID" 2>/dev/null
        wait "$OPS_PID" 2>/dev/null
    fi
    for p in ${OPS_BG_PIDS:-}; do kill "$p" 2>/dev/null; done
    OPS_PID=
    local san=0
    [ -n "${OPS_TMP:-}" ] && { e2e_sanitizer_check "$OPS_TMP/server.log" || san=1; }
    if [ -n "${OPS_TMP:-}" ] && [ -z "${OPS_KEEP:-}" ]; then rm -rf "$OPS_TMP"; fi
    OPS_TMP=
    return $san
}

ops_init() {
    OPS_BUILD=${1:?usage: $0 BUILD_DIR}
    OPS_BUILD=$(cd "$OPS_BUILD" && pwd)
    OPS_SERVER=$OPS_BUILD/encore-server
    OPS_TRAIN=$OPS_BUILD/encore-train
    OPS_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    [ -x "$OPS_SERVER" ] || ops_fail "no $OPS_SERVER (build the encore-server target)"
    OPS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/encore-ops.XXXXXX")
    OPS_REPO=$OPS_TMP/repo
    mkdir -p "$OPS_REPO"
    OPS_PID=
    OPS_BG_PIDS=
    trap 'rc=$?; ops_cleanup || rc=1; exit $rc' EXIT
    trap 'ops_cleanup; exit 1' INT TERM
}

# ops_model NAME: REPO/NAME/1/model.safetensors; sets OPS_MODEL_FILE (a copy
# outside the repository, used to publish more versions).
ops_model() {
    local name=$1 d=$OPS_TMP/data
    mkdir -p "$d"
    if [ -x "$OPS_TRAIN" ] && "$OPS_TRAIN" demo-data --help >/dev/null 2>&1; then
        "$OPS_TRAIN" demo-data --dir "$d" >/dev/null 2>"$d/train.log" ||
            ops_fail "encore-train demo-data: $(tail -3 "$d/train.log")"
        "$OPS_TRAIN" als --interactions "$d/interactions.tsv" --items "$d/items.csv" \
            --out "$OPS_REPO/$name" --iterations 3 >/dev/null 2>>"$d/train.log" ||
            ops_fail "encore-train als: $(tail -3 "$d/train.log")"
    elif [ -x "$OPS_TRAIN" ] && "$OPS_TRAIN" als --help >/dev/null 2>&1; then
        # 300 users x 200 items, ~20 interactions each, deterministic.
        awk 'BEGIN { s = 7; for (u = 0; u < 300; u++) for (j = 0; j < 20; j++) {
                 s = (s * 1103515245 + 12345) % 2147483648; i = (u * 7 + int(s / 65536) % 60) % 200;
                 printf "u%d\ti%d\t1\n", u, i } }' >"$d/interactions.tsv"
        "$OPS_TRAIN" als --interactions "$d/interactions.tsv" --format tsv --factors 16 \
            --iterations 3 --out "$OPS_REPO/$name" >/dev/null 2>"$d/train.log" ||
            ops_fail "encore-train als: $(tail -3 "$d/train.log")"
    elif [ -n "${ENCORE_TEST_MODEL:-}" ] && [ -f "$ENCORE_TEST_MODEL" ]; then
        mkdir -p "$OPS_REPO/$name/1"
        cp "$ENCORE_TEST_MODEL" "$OPS_REPO/$name/1/model.safetensors"
    else
        ops_fail "no encore-train in $OPS_BUILD and no ENCORE_TEST_MODEL: cannot make a model"
    fi
    [ -f "$OPS_REPO/$name/1/model.safetensors" ] || ops_fail "no model written to $OPS_REPO/$name/1"
    OPS_MODEL_FILE=$OPS_TMP/model.safetensors
    cp "$OPS_REPO/$name/1/model.safetensors" "$OPS_MODEL_FILE"
}

# ops_publish NAME FILE: the next version, made visible by one rename (the
# way repo_publish does it), so the watcher never sees a partial file.
ops_publish() {
    local name=$1 file=$2 last v
    last=$(ls "$OPS_REPO/$name" | grep -E '^[1-9][0-9]*$' | sort -n | tail -1)
    v=$(( ${last:-0} + 1 ))
    mkdir -p "$OPS_REPO/$name/.tmp-$$"
    cp "$file" "$OPS_REPO/$name/.tmp-$$/model.safetensors"
    mv "$OPS_REPO/$name/.tmp-$$" "$OPS_REPO/$name/$v"
    echo "$v"
}

ops_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ops_start [server options...]: start on 127.0.0.1:$OPS_PORT, wait for
# /healthz (10 s). stderr goes to $OPS_TMP/server.log.
ops_start() {
    e2e_sanitizer_check "$OPS_TMP/server.log" || ops_fail "sanitizer report from the previous server"
    OPS_PORT=$(ops_free_port)
    OPS_SCHEME=${OPS_SCHEME:-http}
    "$OPS_SERVER" --models "$OPS_REPO" --host 127.0.0.1 --port "$OPS_PORT" "$@" \
        2>"$OPS_TMP/server.log" &
    OPS_PID=$!
    OPS_URL=$OPS_SCHEME://127.0.0.1:$OPS_PORT
    local i
    for i in $(seq 1 100); do
        if [ "$OPS_SCHEME" = https ]; then
            curl -s -o /dev/null --cacert "$OPS_CACERT" "https://localhost:$OPS_PORT/healthz" && return 0
        else
            curl -s -o /dev/null "$OPS_URL/healthz" && return 0
        fi
        kill -0 "$OPS_PID" 2>/dev/null || ops_fail "server exited at startup: $(tail -5 "$OPS_TMP/server.log")"
        sleep 0.1
    done
    ops_fail "server did not answer /healthz within 10 s"
}

# ops_stop: SIGTERM and wait; sets OPS_EXIT to the exit status.
ops_stop() {
    kill -TERM "$OPS_PID" 2>/dev/null
    wait "$OPS_PID"
    OPS_EXIT=$?
    OPS_PID=
}

# ops_rss_kb PID
ops_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# ops_wrk_lua FILE BODY [extra header line]: a wrk script that POSTs BODY.
ops_wrk_lua() {
    cat >"$1" <<LUA
wrk.method = "POST"
wrk.body = '$2'
wrk.headers["Content-Type"] = "application/json"
LUA
}

# ops_wrk_parse FILE: sets W_REQS, W_NON2XX, W_SOCKERR (read+write+timeout),
# W_CONNERR, W_P50_MS, W_P99_MS, W_RPS from wrk --latency output.
ops_wrk_parse() {
    local f=$1
    W_REQS=$(awk '/requests in/ { print $1 }' "$f")
    W_NON2XX=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$f")
    W_NON2XX=${W_NON2XX:-0}
    W_CONNERR=$(sed -n 's/.*Socket errors: connect \([0-9]*\),.*/\1/p' "$f")
    W_CONNERR=${W_CONNERR:-0}
    W_SOCKERR=$(sed -n 's/.*Socket errors: connect [0-9]*, read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3/p' "$f" |
        awk '{ print $1 + $2 + $3 }')
    W_SOCKERR=${W_SOCKERR:-0}
    W_RPS=$(awk '/Requests\/sec:/ { print $2 }' "$f")
    W_P50_MS=$(awk '$1 == "50%" { print $2 }' "$f" | ops_to_ms)
    W_P99_MS=$(awk '$1 == "99%" { print $2 }' "$f" | ops_to_ms)
}

# "1.23ms" / "850.00us" / "1.02s" on stdin -> milliseconds
ops_to_ms() {
    awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
           else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
           else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 }
           else print v }'
}
