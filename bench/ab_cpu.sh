#!/usr/bin/env bash
# ab_cpu.sh - A/B server CPU per request, interleaved: for ROUNDS rounds,
# one short wrk run against each running server in turn, so that load from
# other jobs on a shared machine hits every server alike (compare.sh runs
# all repeats of one server before the next). Prints, per server, the median
# over rounds of server CPU microseconds per request (utime + stime of the
# server process from /proc, over the requests wrk completed) and of rps.
#
#   bash bench/ab_cpu.sh [-r ROUNDS=7] [-d SECONDS=3] [-c CONNS=16] URL...
#
# Each URL is http://127.0.0.1:PORT of an already running server; the body
# is ../shared/bench/recommend.lua's (RECO_* variables apply; RECO_PATH
# defaults to /v1/models/movielens:recommend).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${ENCORE_SHARED:-$(dirname "$HERE")/../shared}
ROUNDS=7 DUR=3 CONNS=16
while getopts "r:d:c:" o; do
  case $o in r) ROUNDS=$OPTARG ;; d) DUR=$OPTARG ;; c) CONNS=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: ab_cpu.sh [-r N] [-d S] [-c C] URL..." >&2; exit 2; }
export RECO_PATH=${RECO_PATH:-/v1/models/movielens:recommend}
TCK=$(getconf CLK_TCK)
OUT=$(mktemp -d /tmp/ab_cpu.XXXXXX)
pid_of() { ss -ltnp "sport = :${1##*:}" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2; }
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for r in $(seq "$ROUNDS"); do
  for url in "$@"; do
    pid=$(pid_of "$url")
    [ -n "$pid" ] || { echo "no server listening at $url" >&2; exit 1; }
    c0=$(cpu_of "$pid")
    res=$(wrk -t2 -c"$CONNS" -d"${DUR}s" -s "$SHARED/bench/recommend.lua" "$url" | grep '^RESULT')
    c1=$(cpu_of "$pid")
    n=$(sed 's/.* requests=\([0-9]*\).*/\1/' <<<"$res")
    rps=$(sed 's/.* rps=\([0-9.]*\).*/\1/' <<<"$res")
    awk -v u="$url" -v c=$((c1 - c0)) -v n="$n" -v t="$TCK" -v rps="$rps" \
      'BEGIN { printf "%s\t%.1f\t%.0f\n", u, c / t * 1e6 / n, rps }' >>"$OUT/runs.tsv"
  done
done
printf '%-28s %10s %10s   (median of %s rounds x %ss, c=%s)\n' server us/req rps "$ROUNDS" "$DUR" "$CONNS"
med() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for url in "$@"; do
  us=$(awk -F'\t' -v u="$url" '$1 == u { print $2 }' "$OUT/runs.tsv" | med)
  rps=$(awk -F'\t' -v u="$url" '$1 == u { print $3 }' "$OUT/runs.tsv" | med)
  printf '%-28s %10s %10s\n' "$url" "$us" "$rps"
done
rm -rf "$OUT"
