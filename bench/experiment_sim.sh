#!/usr/bin/env bash
# experiment_sim.sh - issue #16's A/B simulation on a held-out split of
# MovieLens (bench/experiment_sim.py says the protocol): an experiment of ALS
# against popularity must find ALS better with a 95% CI excluding 0, and an
# A/A experiment (ALS twice) must have a CI covering 0.
#
#   bench/experiment_sim.sh ml-100k|ml-latest-small   (binaries from $BUILD_DIR, default build/)
#
# Prints the two reports' lines on stderr and one JSON line (both reports,
# "pass") on stdout; exits 1 when a criterion fails. Training options:
# $ALS_OPTS (default: encore-train's defaults with 64 factors). AA_REPEATS (default
# 20): more A/A experiments, to count how often a CI excludes 0.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${BUILD_DIR:-$root/build}
ds=${1:?usage: experiment_sim.sh ml-100k|ml-latest-small}
shared=${ENCORE_SHARED:-$root/../shared}
[ -d "$shared/datasets" ] || shared=/work/shared
case "$ds" in
  ml-100k) kind=udata ;;
  ml-latest-small) kind=ratings-csv ;;
  *) echo "unknown dataset $ds" >&2; exit 2 ;;
esac
dir=$shared/datasets/$ds
[ -d "$dir" ] || { echo "no $dir" >&2; exit 1; }
py=/usr/bin/python3
T=$(mktemp -d /tmp/encore-expsim.XXXXXX)
pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

$py "$here/experiment_sim.py" prepare "$dir" "$kind" "$T"
"$build/encore-train" als --interactions "$T/train.tsv" --format tsv --out "$T/repo/als" \
  ${ALS_OPTS:---factors 64} >/dev/null 2>"$T/train.log" || { cat "$T/train.log" >&2; exit 1; }
"$build/encore-train" import --user-factors "$T/pop_users.csv" --item-factors "$T/pop_items.csv" \
  --seen "$T/train.tsv" --out "$T/repo/pop" >/dev/null 2>"$T/import.log" ||
  { cat "$T/import.log" >&2; exit 1; }
for i in 1 2 3 4 5; do
  port=$(( 20000 + (RANDOM * 7 + $$ + i) % 40000 ))
  "$build/encore-server" --host 127.0.0.1 --port "$port" --models "$T/repo" --events "$T/events" \
    --config "$T/config.json" --access-log false --drain-seconds 0 2>>"$T/server.log" &
  pid=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/readyz" && break 2
    sleep 0.1
  done
  kill "$pid" 2>/dev/null; pid=
done
[ -n "$pid" ] || { cat "$T/server.log" >&2; exit 1; }
$py "$here/experiment_sim.py" run "$T" "$port" "$ds"
