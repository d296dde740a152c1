#!/usr/bin/env bash
# smoke.sh - the curl smoke tests on their own: build if needed, then train
# small models, start the real encore-server on free ports and curl every
# endpoint, good and bad requests, ending with SIGTERM and a clean exit.
#
#   bash tests/smoke.sh [BUILD_DIR]      (default: build)
#
# The same scripts run in CI as the ctest entries e2e_smoke (recommend,
# similar, models, health, metrics, drain) and e2e_predict (KServe V1/V2
# predict for every family); this wrapper is for a quick check by hand.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
if [ ! -x "$BUILD/encore-server" ] || [ ! -x "$BUILD/encore-train" ]; then
  cmake -S "$ROOT" -B "$BUILD" >/dev/null
  cmake --build "$BUILD" --target encore-server encore-train -j"$(nproc)"
fi
rc=0
for t in e2e_smoke e2e_predict; do
  bash "$ROOT/tests/$t.sh" "$BUILD" || rc=1
done
exit $rc
