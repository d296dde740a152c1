# lib/e2e.sh - helpers for the end-to-end shell tests (sourced, not run).
#
#   e2e_init BUILD_DIR     set BIN, make a temp dir $T removed at exit
#   e2e_start_server ARGS  start encore-server on a free port -> $PORT, $SRV_PID
#   check NAME EXPECTED ACTUAL      count a pass or a failure
#   req METHOD PATH [BODY] [CURL ARGS...]  -> $STATUS and $BODY
#   e2e_finish             print "N passed, N failed" and exit accordingly
set -u
PASS=0
FAIL=0

e2e_init() {
  BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
  T=$(mktemp -d /tmp/encore-e2e.XXXXXX)
  trap 'e2e_cleanup' EXIT
  # The server's event store (default ./events) goes in the temp dir too.
  export ENCORE_EVENTS=${ENCORE_EVENTS:-$T/events}
}

e2e_cleanup() {
  if [ -n "${SRV_PID:-}" ] && kill -0 "$SRV_PID" 2>/dev/null; then
    kill -KILL "$SRV_PID" 2>/dev/null
  fi
  rm -rf "$T"
}

# Start the server on a free port; retries on a bind race. Extra args pass through.
e2e_start_server() {
  local try
  for try in 1 2 3 4 5; do
    PORT=$(( 20000 + (RANDOM * 7 + $$) % 40000 ))
    "$BUILD/encore-server" --host 127.0.0.1 --port "$PORT" "$@" 2>"$T/server.log" &
    SRV_PID=$!
    local i
    for i in $(seq 100); do
      if curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz"; then return 0; fi
      kill -0 "$SRV_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SRV_PID" 2>/dev/null
    wait "$SRV_PID" 2>/dev/null
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
  local out
  local ct=(-H 'Content-Type: application/json')
  case "$*" in *Content-Type*) ct=() ;; esac   # the caller sets its own
  if [ -n "$body" ]; then
    out=$(curl -s -m 10 -X "$method" "${ct[@]}" --data-binary "$body" \
      -w '\n%{http_code}' "$@" "http://127.0.0.1:$PORT$path")
  else
    out=$(curl -s -m 10 -X "$method" -w '\n%{http_code}' "$@" "http://127.0.0.1:$PORT$path")
  fi
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
