#!/usr/bin/env bash
# sec_burst.sh - a burst of connections must not hang the server (issue #20).
#
# libmicrohttpd 0.9.75 returns from its "connection limit reached" path with
# a mutex held; a burst that carried it there (2,000 idle connections within
# ~50 ms) left every HTTP thread waiting forever: /healthz reset for good
# and SIGTERM, then a second signal, did nothing. Here:
#   1. 2,000 connections at once (max_connections 1024), held 1 s, closed:
#      /healthz answers 200 within 10 s of the close (the defect is a hang
#      for good; 2 s failed once on a machine at load 8), a recommend still
#      works, SIGTERM exits 0 within 20 s;
#   2. the same with --max-connections 64 and 300 connections;
#   3. the watchdog: with the shutdown stalled on purpose where the HTTP
#      threads are stopped (ENCORE_TEST_STALL_STOP), SIGTERM ends the process
#      (exit 1) within shutdown_timeout + 5 s, and a second SIGTERM during
#      that stop ends it at once.
# Loopback only; about 25 s.
#
#   bash tests/security/sec_burst.sh BUILD_DIR
set -u
source "$(dirname "$0")/lib.sh"
sec_init "$1"
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 2100 ] || ops_skip "needs 2,100 open files for the client (ulimit -Hn is $(ulimit -Hn))"
ops_model demo
RECO='{"user":"1","k":3}'

burst_case() {   # LABEL CONNECTIONS [server options]
    local label=$1 n=$2
    shift 2
    ops_start --threads 2 --access-log false --drain-seconds 0 --shutdown-timeout 5 "$@"
    "$PY" "$SEC_DIR/burst.py" "$OPS_PORT" "$n" 1 10
    sec_check "$label: /healthz within 10 s of the burst closing" 0 $?
    sec_check "$label: recommend after the burst" 200 "$(sec_status POST /v1/models/demo:recommend "$RECO")"
    sec_stop_within 20
    sec_check "$label: SIGTERM exit status" 0 "$OPS_EXIT"
}
burst_case "2000 connections, max_connections 1024" 2000
burst_case "300 connections, max_connections 64" 300 --max-connections 64

# The watchdog, with the stop stalled on purpose.
export ENCORE_TEST_STALL_STOP=1
ops_start --access-log false --drain-seconds 0 --shutdown-timeout 1
t0=$(date +%s)
sec_stop_within 15
sec_check "watchdog: a stalled stop ends with exit 1" 1 "$OPS_EXIT"
sec_check "watchdog: log says so" 1 "$(grep -c 'shutdown watchdog' "$OPS_TMP/server.log")"
ops_note "stalled stop ended after $(( $(date +%s) - t0 )) s (budget: shutdown_timeout 1 + 5)"
ops_start --access-log false --drain-seconds 0 --shutdown-timeout 30
kill -TERM "$OPS_PID"
sleep 1
sec_stop_within 3
sec_check "a second SIGTERM during a stalled stop exits at once" 1 "$OPS_EXIT"
unset ENCORE_TEST_STALL_STOP
sec_finish
