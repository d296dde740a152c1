#!/usr/bin/env bash
# predict_binary.sh - server CPU per CNN predict request: the same 28x28
# image sent as JSON numbers (V2 infer, FP32 "data", JSON answer) and as
# tritonclient.http sends it by default (binary tensor data extension: the
# 3,136 raw FP32 bytes after the JSON header, binary_data_output: true), in
# one run, alternating, ROUNDS times each.
#
#   bench/predict_binary.sh BUILD_DIR [ROUNDS] [SECONDS] [ARCH]
#
# The machine is shared and loaded, so the figure is the server's own CPU
# time (utime + stime from /proc/PID/stat) divided by the requests it
# answered, not requests per second. Prints one RESULT line per round and a
# median summary with the binary / JSON ratio.
set -euo pipefail
BUILD=$(cd "${1:?usage: predict_binary.sh BUILD_DIR [ROUNDS] [SECONDS] [ARCH]}" && pwd)
ROUNDS=${2:-3}
SECS=${3:-10}
ARCH=${4:-conv32k3,relu,flatten,dense10}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
T=$(mktemp -d /tmp/predict_binary.XXXXXX)
trap 'kill "$SRV" 2>/dev/null; rm -rf "$T"' EXIT
"$PY" - "$T" <<'PYEOF'
import json, random, struct, sys
t = sys.argv[1]
random.seed(1)
def image(label):
    return [(200 if (r < 14) == (label == 0) else 10) + random.randint(0, 40) for r in range(28) for c in range(28)]
with open(t + "/images.csv", "w") as f:
    for i in range(200):
        f.write(",".join(map(str, [i % 10] + image(i % 2))) + "\n")
img = [float(v) for v in image(0)]
# JSON: what a hand-written client (or tritonclient with binary_data=False) sends
js = json.dumps({"inputs": [{"name": "input", "shape": [1, 28, 28], "datatype": "FP32", "data": img}]},
                separators=(",", ":")).encode()
open(t + "/json.body", "wb").write(js)
# binary: tritonclient.http's default (tests/tritonclient_replay.py builds the same bytes)
head = json.dumps({"inputs": [{"name": "input", "shape": [1, 28, 28], "datatype": "FP32",
                               "parameters": {"binary_data_size": 784 * 4}}],
                   "parameters": {"binary_data_output": True}}, separators=(",", ":")).encode()
open(t + "/bin.body", "wb").write(head + struct.pack("<784f", *img))
open(t + "/bin.len", "w").write(str(len(head)))
PYEOF
"$BUILD/encore-train" cnn --train-images "$T/images.csv" --out "$T/repo/digits" --arch "$ARCH" \
  --epochs 1 --batch 16 --seed 1 >"$T/train.log" 2>&1 || { cat "$T/train.log"; exit 1; }
PORT=$(( 20000 + (RANDOM * 7 + $$) % 40000 ))
"$BUILD/encore-server" --models "$T/repo" --host 127.0.0.1 --port "$PORT" --threads 2 \
  --access-log false 2>"$T/server.log" &
SRV=$!
for i in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done
URL=http://127.0.0.1:$PORT/v2/models/digits/infer
# both bodies must be answered 200 with the same label
a=$(curl -s -H 'Content-Type: application/json' --data-binary @"$T/json.body" "$URL")
b=$(curl -s -H 'Content-Type:' -H "Inference-Header-Content-Length: $(cat "$T/bin.len")" \
  --data-binary @"$T/bin.body" "$URL" | head -c "$(( $(cat "$T/bin.len") + 200 ))" | tr -d '\0')
echo "# json answer: ${a:0:200}" >&2
echo "# binary answer (JSON part): ${b:0:200}" >&2
la=$(echo "$a" | sed -n 's/.*"data":\["\([^"]*\)".*/\1/p')
case "$b" in *'"binary_data_size"'*) ;; *) echo "the binary request was not answered in binary" >&2; exit 1 ;; esac
ticks() { awk '{ print $14 + $15 }' "/proc/$SRV/stat"; }
HZ=$(getconf CLK_TCK)
run() {  # KIND BODY HEADER_LEN -> prints us/request
  local t0 t1 out n
  t0=$(ticks)
  out=$(BODY_FILE=$2 HEADER_LEN=$3 wrk -t1 -c8 -d"${SECS}s" -s "$HERE/infer_binary.lua" "$URL")
  t1=$(ticks)
  n=$(echo "$out" | sed -n 's/^RESULT requests=\([0-9]*\) non2xx=\([0-9]*\)/\1/p')
  bad=$(echo "$out" | sed -n 's/^RESULT requests=[0-9]* non2xx=\([0-9]*\)/\1/p')
  [ "${bad:-1}" = 0 ] || { echo "$1: $bad non-2xx answers" >&2; exit 1; }
  echo "RESULT predict_binary kind=$1 requests=$n server_cpu_s=$(echo "($t1 - $t0) / $HZ" | bc -l | cut -c1-6) us_per_req=$(echo "($t1 - $t0) * 1000000 / $HZ / $n" | bc -l | cut -c1-6) load=$(cut -d' ' -f1 /proc/loadavg)" >&2
  echo "($t1 - $t0) * 1000000 / $HZ / $n" | bc -l
}
J=() B=()
for r in $(seq "$ROUNDS"); do
  J+=("$(run json "$T/json.body" 0)")
  B+=("$(run binary "$T/bin.body" "$(cat "$T/bin.len")")")
done
med() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
mj=$(med "${J[@]}"); mb=$(med "${B[@]}")
printf 'arch %s, %d rounds x %d s, wrk -t1 -c8, server --threads 2\n' "$ARCH" "$ROUNDS" "$SECS"
printf '| request | server CPU per request (median) |\n|---|---|\n'
printf '| V2 infer, JSON FP32 data (784 numbers), JSON answer | %.1f us |\n' "$mj"
printf '| V2 infer, binary FP32 (tritonclient default), binary answer | %.1f us |\n' "$mb"
printf '| binary / JSON | %.2f |\n' "$(echo "$mb / $mj" | bc -l)"
