#!/usr/bin/env bash
# deps.sh - install the Debian packages Encore needs, only those missing.
#   bash scripts/deps.sh [build|test]   (test adds the tools the test suite uses)
#   bash scripts/deps.sh --list [build|test]   print the package names, install nothing
#     (tests/lib/e2e.sh's e2e_need asks it: under CI=true a missing package that
#     this script installs fails the test instead of skipping it)
set -euo pipefail
list=0
if [ "${1:-}" = --list ]; then list=1; shift; fi
want=(build-essential cmake pkg-config libmicrohttpd-dev libjansson-dev libuv1-dev
      libopenblas-dev liblapacke-dev libgnutls28-dev nettle-dev zlib1g-dev libpng-dev check curl python3
      liblmdb-dev libhiredis-dev libcurl4-gnutls-dev libhnswlib-dev)
if [ "${1:-build}" = test ]; then
  # clang + its sanitizer runtime: fuzzers; wrk: load tests; gnutls-bin: TLS test
  # certificates; python3-numpy: the model-format and import round trips.
  want+=(clang libclang-rt-14-dev wrk gnutls-bin python3-numpy valgrind)
  # clang-format: tests/format_check.sh (scripts/format.sh --check; version 14)
  want+=(clang-format)
  # redis-server: the event store's Redis tests start a real one
  want+=(redis-server)
  # python3-rapidjson: tests/tritonclient_replay.py writes JSON with the library
  # tritonclient uses (its compact output is the client's exact bytes)
  want+=(python3-rapidjson)
  # node + npm: the object-storage tests start a real S3-compatible server
  # (tests/s3, installed by tests/lib/s3.sh with npm ci)
  command -v node >/dev/null && command -v npm >/dev/null || want+=(nodejs npm)
fi
if [ $list = 1 ]; then printf '%s\n' "${want[@]}"; exit 0; fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
