#!/usr/bin/env bash
# test.sh - the whole test suite, as CI runs it:
#   1. a warnings-as-errors build and every test (Check unit tests + e2e scripts)
#   2. the same suite under AddressSanitizer + UndefinedBehaviorSanitizer
# Long benchmarks and long fuzzing are separate commands (see README).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test || exit 1
JOBS=$(nproc)
status=0
run_suite() {  # DIR LABEL CMAKE-ARGS...
  local dir=$1 label=$2; shift 2
  echo "=== $label: configure and build ($dir) ==="
  cmake -S . -B "$dir" -DENCORE_WERROR=ON "$@" >/dev/null || return 1
  cmake --build "$dir" -j"$JOBS" || return 1
  echo "=== $label: tests ==="
  (cd "$dir" && ctest --output-on-failure -j"$JOBS" ${CTEST_ARGS:-}) || return 1
}
run_suite build "release" -DCMAKE_BUILD_TYPE=RelWithDebInfo || status=1
# ASan's leak checker needs ptrace-free LSan: fine as root; abort on the first report.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite build-asan "asan+ubsan" -DCMAKE_BUILD_TYPE=Debug -DENCORE_SANITIZE=address,undefined \
  || status=1
[ $status = 0 ] && echo "test.sh: all suites passed" || echo "test.sh: FAILURES (see above)"
exit $status
