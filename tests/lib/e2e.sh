# lib/e2e.sh - helpers for the end-to-end shell tests (sourced, not run).
#
# SKIPS. A test that cannot run here never exits 0: it exits 77, which ctest
# (SKIP_RETURN_CODE 77) shows as "Skipped", and says why on stdout.
#   e2e_skip WHY           exit 77 now, printing "SKIP <test>: WHY"
#   e2e_need PKG CMD...    run CMD quietly; if it fails, PKG (a Debian package) is
#                          missing: skip (exit 77). Under CI=true, when PKG is one
#                          that scripts/deps.sh installs, it is a failure (exit 1)
#                          instead: in CI what the project's scripts can install
#                          must be there, so a skip cannot hide a broken setup.
# Sanitizer reports (ASan, UBSan, TSan, LSan) in a server's log fail the test,
# even when the server was killed before its exit status could say so.
#
#   e2e_init BUILD_DIR     set BIN, make a temp dir $T removed at exit
#   e2e_start_server ARGS  start encore-server on a free port -> $PORT, $SRV_PID
#   check NAME EXPECTED ACTUAL      count a pass or a failure
#   req METHOD PATH [BODY] [CURL ARGS...]  -> $STATUS and $BODY
#   e2e_finish             print "N passed, N failed" and exit accordingly
set -u
PASS=0
FAIL=0
E2E_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
E2E_NAME=$(basename "$0" .sh)

e2e_skip() {
  echo "SKIP $E2E_NAME: $*"
  exit 77
}

# e2e_installable PKG: does scripts/deps.sh (build or test list) install PKG?
e2e_installable() {
  bash "$E2E_SRC/scripts/deps.sh" --list test 2>/dev/null | grep -qx -- "$1"
}

e2e_need() {
  local pkg=$1; shift
  "$@" >/dev/null 2>&1 && return 0
  if ! e2e_installable "$pkg"; then
    e2e_skip "needs $pkg ('$*' failed; scripts/deps.sh does not install it)"
  elif [ "${CI:-}" = true ]; then
    echo "FAIL $E2E_NAME: needs $pkg ('$*' failed); under CI=true this is a failure:" \
      "bash scripts/deps.sh test installs it" >&2
    exit 1
  fi
  e2e_skip "needs $pkg ('$*' failed; bash scripts/deps.sh test installs it)"
}

# e2e_sanitizer_check FILE: a sanitizer report in FILE is a failure (prints it, returns 1).
e2e_sanitizer_check() {
  [ -f "$1" ] || return 0
  grep -qE '^(==[0-9]+==ERROR: |WARNING: ThreadSanitizer|SUMMARY: (Address|Thread|Leak|UndefinedBehavior)Sanitizer)|: runtime error: ' "$1" || return 0
  echo "FAIL $E2E_NAME: sanitizer report in $(basename "$1"):" >&2
  grep -m1 -B2 -A30 -E '==ERROR: |WARNING: ThreadSanitizer|: runtime error: ' "$1" >&2
  return 1
}

e2e_init() {
  BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
  T=$(mktemp -d /tmp/encore-e2e.XXXXXX)
  trap 'e2e_cleanup' EXIT
  # set -e ends a test at the first failing command with no word of which;
  # say which (ctest shows it), so that a failure is never silent.
  set -E
  trap 'e2e_on_err $? "$LINENO" "${BASH_SOURCE[0]##*/}" "$BASH_COMMAND"' ERR
  # The server's event store (default ./events) goes in the temp dir too.
  export ENCORE_EVENTS=${ENCORE_EVENTS:-$T/events}
}

# e2e_on_err STATUS LINE FILE COMMAND: the ERR trap; only the test's own
# shell reports (a failing $(...) inside an argument does not end the test).
e2e_on_err() {
  [ "$BASH_SUBSHELL" -eq 0 ] && [[ $- == *e* ]] || return 0
  echo "FAIL $E2E_NAME: $3:$2: '$4' exited with status $1 (set -e ends the test here)" >&2
}

e2e_cleanup() {
  local rc=$?
  if [ -n "${SRV_PID:-}" ] && kill -0 "$SRV_PID" 2>/dev/null; then
    kill -KILL "$SRV_PID" 2>/dev/null
  fi
  e2e_sanitizer_check "$T/server.log" || rc=1
  rm -rf "$T"
  exit $rc
}

# Start the server on a free port; retries on a bind race. Extra args pass through.
e2e_start_server() {
  local try
  e2e_sanitizer_check "$T/server.log" || exit 1   # the previous server's log
  for try in 1 2 3 4 5; do
    PORT=$(( 20000 + (RANDOM * 7 + $$) % 40000 ))
    "$BUILD/encore-server" --host 127.0.0.1 --port "$PORT" "$@" 2>"$T/server.log" &
    SRV_PID=$!
    local i
    for i in $(seq 100); do
      # Our server's own line first: when the port was taken, /healthz answered
      # from another test's server would send this test's requests there.
      if grep -q "listening on 127.0.0.1:$PORT\"" "$T/server.log" 2>/dev/null &&
        curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz"; then return 0; fi
      kill -0 "$SRV_PID" 2>/dev/null || break
      sleep 0.1
    done
    # (the server may be gone already: that is why we retry, not a failure)
    kill -KILL "$SRV_PID" 2>/dev/null || true
    wait "$SRV_PID" 2>/dev/null || true
    echo "e2e_start_server: no server on port $PORT (try $try); its log:" >&2
    tail -5 "$T/server.log" >&2
  done
  echo "could not start encore-server; log:" >&2
  cat "$T/server.log" >&2
  return 1
}

check() {
  if [ "$2" = "$3" ]; then
    PASS=$((PASS + 1))
  else
    FAIL=$((FAIL + 1))
    echo "FAIL: $1: expected '$2', got '$3'" >&2
  fi
}

# check_contains NAME NEEDLE HAYSTACK
check_contains() {
  case "$3" in
    *"$2"*) PASS=$((PASS + 1)) ;;
    *) FAIL=$((FAIL + 1)); echo "FAIL: $1: '$2' not in: ${3:0:300}" >&2 ;;
  esac
}

req() {
  local method=$1 path=$2 body=${3:-}
  shift 3 2>/dev/null || shift $#
  local out rc=0
  local ct=(-H 'Content-Type: application/json')
  case "$*" in *Content-Type*) ct=() ;; esac   # the caller sets its own
  if [ -n "$body" ]; then
    out=$(curl -s -m 10 -X "$method" "${ct[@]}" --data-binary "$body" \
      -w '\n%{http_code}' "$@" "http://127.0.0.1:$PORT$path") || rc=$?
  else
    out=$(curl -s -m 10 -X "$method" -w '\n%{http_code}' "$@" "http://127.0.0.1:$PORT$path") || rc=$?
  fi
  # No answer (refused, reset, timed out): status 000, and say why, so the
  # caller's checks fail with a message instead of set -e ending the test.
  [ "$rc" -eq 0 ] || echo "req $method $path: curl exit $rc (no answer)" >&2
  STATUS=${out##*$'\n'}
  BODY=${out%$'\n'*}
}

# json EXPR: evaluate a Python expression on the last $BODY as `j`.
# Debian's interpreter starts in ~0.02 s; a pyenv shim can take ~1 s.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
json() {
  printf '%s' "$BODY" | "$PY" -c "import json,sys; j=json.load(sys.stdin); print($1)" 2>/dev/null
}

e2e_finish() {
  echo "$(basename "$0" .sh): $PASS passed, $FAIL failed"
  [ "$FAIL" -eq 0 ]
}
