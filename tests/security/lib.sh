# lib.sh - helpers for the security tests (tests/security/sec_*.sh), on
# top of tests/ops_lib.sh (scratch directory, model, server on a free
# loopback port). Sourced, not run.
#
#   source "$(dirname "$0")/lib.sh"; sec_init "$1"
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/ops_lib.sh"
# A skip exits 77 (ctest's SKIP_RETURN_CODE for these tests).
ops_skip() { echo "SKIP: $*"; ops_cleanup; exit 77; }
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
SEC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SEC_FAILS=0

# sec_init BUILD_DIR: ops_init, then work in the scratch directory (a server
# started by a test writes nothing into the source tree, e.g. ./events).
sec_init() {
    ops_init "$1"
    cd "$OPS_TMP" || exit 1
}

sec_check() {   # NAME EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then
        echo "ok: $1"
    else
        echo "FAIL: $1: expected '$2', got '$3'" >&2
        SEC_FAILS=$((SEC_FAILS + 1))
    fi
}

# sec_stop_within SECONDS [SIGNAL]: signal the server (default TERM) and
# wait at most SECONDS for it to exit; sets OPS_EXIT (or "hung", after
# which the server is killed with SIGKILL).
sec_stop_within() {
    local secs=$1 sig=${2:-TERM} i
    kill -"$sig" "$OPS_PID" 2>/dev/null
    for i in $(seq $((secs * 10))); do
        kill -0 "$OPS_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$OPS_PID" 2>/dev/null; then
        kill -KILL "$OPS_PID" 2>/dev/null
        wait "$OPS_PID" 2>/dev/null
        OPS_EXIT=hung
    else
        wait "$OPS_PID"
        OPS_EXIT=$?
    fi
    OPS_PID=
}

# sec_status METHOD PATH [BODY]: the HTTP status (000 if none) within 5 s.
sec_status() {
    if [ -n "${3:-}" ]; then
        curl -s -m 5 -o /dev/null -w '%{http_code}' -X "$1" -H 'Content-Type: application/json' \
            --data-binary "$3" "$OPS_URL$2"
    else
        curl -s -m 5 -o /dev/null -w '%{http_code}' -X "$1" "$OPS_URL$2"
    fi
}

sec_finish() {
    ops_cleanup || { echo "FAIL: sanitizer report in the server log" >&2; SEC_FAILS=$((SEC_FAILS + 1)); }
    [ "$SEC_FAILS" = 0 ] || { echo "$(basename "$0" .sh): $SEC_FAILS check(s) failed" >&2; exit 1; }
    echo "PASS $(basename "$0" .sh)"
    exit 0
}
