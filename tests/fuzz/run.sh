#!/usr/bin/env bash
# run.sh - run every libFuzzer target for SECONDS each, seeded from the
# committed corpus (tests/fuzz/corpus_<target>/); new inputs go to a scratch
# copy so the committed corpus stays small and reviewed.
#
#   tests/fuzz/run.sh SECONDS [BUILD_DIR]
#
# BUILD_DIR (default build-fuzz beside the sources) is configured and built
# when it has no fuzzers yet:
#   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DENCORE_FUZZ=ON \
#         -DENCORE_SANITIZE=address,undefined -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link
# (fuzzer-no-link instruments the libraries too, so coverage guides the
# search inside the parsers, not only in the target file.)
# Prints one "RESULT fuzz target=... seconds=... runs=... crashes=..." line per
# target; exit status 1 if any target crashed (the reproducer is kept in
# the scratch directory, whose path is printed). Longer runs:
#   tests/fuzz/run.sh 3600
# Without clang: exit 77 (skipped), a failure under CI=true (deps.sh installs it).
# ctest replays every committed corpus in the normal gcc build (tests/fuzz/replay.c).
set -u
SECS=${1:?usage: run.sh SECONDS [BUILD_DIR]}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
B=${2:-$SRC/build-fuzz}
TARGETS=$(cd "$SRC/tests/fuzz" && ls fuzz_*.c | sed 's/\.c$//' | tr '\n' ' ')
need_build=0
for t in $TARGETS; do [ -x "$B/$t" ] || need_build=1; done
if [ $need_build = 1 ]; then
    . "$SRC/tests/lib/e2e.sh"
    e2e_need clang command -v clang
    cmake -S "$SRC" -B "$B" -DCMAKE_C_COMPILER=clang -DENCORE_FUZZ=ON \
        -DENCORE_SANITIZE=address,undefined -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link >/dev/null || exit 1
    cmake --build "$B" --target $TARGETS -j2 >/dev/null || { echo "FAIL: fuzz build"; exit 1; }
fi
B=$(cd "$B" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/encore-fuzz.XXXXXX")
status=0
for t in $TARGETS; do
    name=${t#fuzz_}
    mkdir -p "$WORK/$name"
    cp "$SRC/tests/fuzz/corpus_$name"/* "$WORK/$name/"
    # A target may set its own libFuzzer flags (memory bounds) with a line
    # "/* run.sh: FLAGS */"; later flags win.
    flags=$(sed -n 's|^/\* run.sh: \(.*\) \*/$|\1|p' "$SRC/tests/fuzz/$t.c")
    (cd "$WORK" && "$B/$t" -max_total_time="$SECS" -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 $flags "$WORK/$name" >"$WORK/$name.log" 2>&1)
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/$name.log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$WORK/$name.log" | tail -1 | awk '{ print $2 }')
    corpus=$(ls "$WORK/$name" | wc -l)
    crashes=$(ls "$WORK" | grep -cE '^(crash|leak|timeout|oom)-')
    echo "RESULT fuzz target=$t seconds=$SECS runs=${runs:-0} coverage_edges=${cov:-0} corpus=$corpus exit=$rc crashes=$crashes"
    if [ "$rc" != 0 ]; then
        status=1
        echo "FAIL: $t exited $rc; log and reproducer in $WORK" >&2
        grep -m20 -E 'ERROR|SUMMARY|#0|#1|#2|#3' "$WORK/$name.log" >&2
    fi
done
[ "$status" = 0 ] && rm -rf "$WORK"
exit $status
