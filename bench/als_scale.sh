#!/usr/bin/env bash
# als_scale.sh - how `encore-train als` cost grows with interactions: for each
# size, synthetic interactions (bench/als_synth.py: 20 per user on average,
# 100k items, taste clusters and Zipf popularity) are trained one size at a
# time under `nice`, and one JSON line per size gives the per-iteration
# times the trainer prints, the fit time and the peak RSS (/usr/bin/time -v).
#
#   bash bench/als_scale.sh [--sizes "2000000 5000000 20000000"] [--iterations N]
#                           [--factors F] [--threads T] [--work DIR] [--keep]
#
# Binaries from $BUILD_DIR (default build/, built if absent). Data files are
# kept in --work (default a temp dir) and reused when present, so a second
# run only trains. Users = interactions / 20; the items stay at 100,000.
# Interactions per CPU second of an iteration being flat across sizes is
# the linear growth the issue asks to show (CPU, not wall: the machine is
# shared); results in BENCHMARKS.md "Big user bases".
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
sizes="2000000 5000000 20000000"
iters=5
factors=64
threads=2
work=""
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
    --sizes) sizes=$2; shift 2 ;;
    --iterations) iters=$2; shift 2 ;;
    --factors) factors=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "als_scale.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -x /usr/bin/time ] || { echo "als_scale.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
[ -x "$BUILD_DIR/encore-train" ] || { cmake -S . -B "$BUILD_DIR" >/dev/null && cmake --build "$BUILD_DIR" -j2 --target encore-train >/dev/null; }
if [ -z "$work" ]; then
    work=$(mktemp -d)
    [ "$keep" = 1 ] || trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
for n in $sizes; do
    users=$((n / 20))
    data="$work/als_$n.tsv"
    [ -s "$data" ] || nice /usr/bin/python3 bench/als_synth.py --users "$users" --items 100000 \
        --interactions "$n" --out "$data" >&2
    log="$work/train_$n.log"
    rm -rf "$work/repo_$n"
    nice /usr/bin/time -v "$BUILD_DIR/encore-train" als --interactions "$data" --format tsv \
        --factors "$factors" --iterations "$iters" --threads "$threads" \
        --out "$work/repo_$n/als" >"$log.out" 2>"$log" || { cat "$log" >&2; exit 1; }
    # per-iteration seconds from the trainer's progress lines, the fit time,
    # the process's wall time and peak RSS from time -v
    python3 - "$log" "$n" "$users" "$factors" "$threads" <<'EOF'
import json, re, sys
log, n, users, factors, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
t = open(log).read()
lines = re.findall(r"als: iteration \d+/\d+\s+([0-9.]+) s\s+cpu ([0-9.]+) s", t)
its = [float(w) for w, c in lines]
cpus = [float(c) for w, c in lines]
fit = re.search(r"als: trained .* in ([0-9.]+) s", t)
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t).group(1)
parts = [float(p) for p in wall.split(":")]
wall_s = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) * 1024
cpu = float(re.search(r"User time \(seconds\): ([0-9.]+)", t).group(1)) + float(
    re.search(r"System time \(seconds\): ([0-9.]+)", t).group(1))
med = sorted(its)[len(its) // 2] if its else None
cmed = sorted(cpus)[len(cpus) // 2] if cpus else None
print(json.dumps({"interactions": n, "users": users, "items": 100000, "factors": factors,
                  "threads": threads, "iterations": len(its), "iteration_s": its,
                  "iteration_s_median": med,
                  "iteration_cpu_s": cpus, "iteration_cpu_s_median": cmed,
                  "interactions_per_s": round(n / med) if med else None,
                  "interactions_per_cpu_s": round(n / cmed) if cmed else None,
                  "fit_s": float(fit.group(1)) if fit else None, "wall_s": wall_s,
                  "cpu_s": cpu, "peak_rss_bytes": rss}))
EOF
done
