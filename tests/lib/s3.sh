# lib/s3.sh - a real S3-compatible server for the object-storage tests
# (sourced). @20minutes/s3rver, pinned in tests/s3/package-lock.json, is
# installed once with `npm ci` into $ENCORE_S3_CACHE (default
# /var/cache/encore-test-s3) outside the source tree; it verifies SigV4
# signatures and wants x-amz-content-sha256 and path-style URLs.
#
#   s3_need              skip (exit 77) without node/npm, unless CI=true (fail)
#   s3_start DIR BUCKET  start on a free port -> $S3_PORT, $S3_PID, $S3_URL
#   s3_stop / s3_restart (same port and data) / s3_rotate / s3_restore
S3_CACHE=${ENCORE_S3_CACHE:-/var/cache/encore-test-s3}
S3_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../s3" && pwd)

s3_need() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if [ "${CI:-}" = true ]; then echo "FAIL: node and npm are needed for the S3 tests (CI)"; exit 1; fi
    echo "SKIP: node/npm not installed: no S3-compatible server to test against"; exit 77
  fi
  local stamp
  stamp="$S3_CACHE/.installed-$(cat "$S3_SRC/package-lock.json" "$S3_SRC/s3server.js" | md5sum | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    mkdir -p "$S3_CACHE"
    (
      flock 9
      if [ ! -f "$stamp" ]; then
        cp "$S3_SRC/package.json" "$S3_SRC/package-lock.json" "$S3_SRC/s3server.js" "$S3_CACHE/"
        npm ci --prefix "$S3_CACHE" --no-audit --no-fund --ignore-scripts --loglevel=error >&2 \
          || { echo "FAIL: npm ci of the S3 test server failed" >&2; exit 1; }
        touch "$stamp"
      fi
    ) 9>"$S3_CACHE/.lock" || exit 1
  fi
}

s3_start() {  # DIR BUCKET...
  S3_DIR=$1; shift
  S3_BUCKETS=("$@")
  mkdir -p "$S3_DIR"
  S3_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  _s3_run
}

_s3_run() {
  rm -f "$S3_DIR.log"   # (a restart must not see the last run's READY line)
  node "$S3_CACHE/s3server.js" "$S3_DIR" "$S3_PORT" "${S3_BUCKETS[@]}" >"$S3_DIR.log" 2>&1 &
  S3_PID=$!
  S3_URL=http://127.0.0.1:$S3_PORT
  local i
  for i in $(seq 1 100); do
    grep -q '^READY' "$S3_DIR.log" 2>/dev/null && return 0
    kill -0 "$S3_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: S3 server did not start: $(cat "$S3_DIR.log")" >&2
  return 1
}

s3_stop() { [ -n "${S3_PID:-}" ] && kill -TERM "$S3_PID" 2>/dev/null && wait "$S3_PID" 2>/dev/null; S3_PID=; }
s3_restart() { _s3_run; }
s3_rotate() { kill -USR1 "$S3_PID"; }
s3_restore() { kill -USR2 "$S3_PID"; }
