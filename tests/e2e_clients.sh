#!/usr/bin/env bash
# e2e_clients.sh - real clients' requests, unchanged, against the real server:
#   - tritonclient.http's own bytes (tests/tritonclient_replay.py re-does the
#     client's request building and answer parsing from its source): FP32,
#     INT64, UINT8 and BYTES inputs as binary tensor data, with and without
#     requested outputs, binary_data_output, JSON tensors, gzip/deflate
#     bodies and gzip answers, and the errors the client decodes;
#   - KServe V1 to the data-plane doc: GET /v1/models {"models": [names]},
#     GET /v1/models/{name} {"name", "ready"}, :predict with 'inputs' (row
#     and columnar), signature_name, parameters;
#   - GET /v2/ and /v2, HEAD on every GET route;
#   - Content-Encoding gzip / deflate bodies, a gzip bomb (413), corrupt
#     (400) and unknown (415) codings, Accept-Encoding: gzip answers;
#   - a 10 MB body written whole before reading (Python http.client) reads
#     the 413 instead of a reset (lingering close).
# Usage: bash tests/e2e_clients.sh BUILD_DIR
. "$(dirname "$0")/lib/e2e.sh"
e2e_init "$1"
SRC=$(cd "$(dirname "$0")/.." && pwd)
IRIS=$SRC/tests/data/iris
PY=/usr/bin/python3
e2e_need python3-numpy "$PY" -c 'import numpy'   # a failure under CI=true

train() {  # LOG ARGS...
  local log=$1; shift
  "$BUILD/encore-train" "$@" >"$T/$log.out" 2>"$T/$log.log" || { cat "$T/$log.log" >&2; exit 1; }
}
train forest forest --data "$IRIS/train.csv" --label species --out "$T/repo/iris" --trees 25 --seed 1
awk 'BEGIN { for (u = 1; u <= 30; u++) for (k = 0; k < 8; k++)
               printf "u%d\ti%d\t1\n", u, (u * 7 + k * k * 3 + k) % 40 + 1 }' >"$T/interactions.tsv"
train als als --interactions "$T/interactions.tsv" --format tsv --out "$T/repo/movies" \
  --factors 8 --iterations 3
for i in $(seq 20); do
  echo "a wonderful moving film, great acting $i" >>"$T/pos.txt"
  echo "a dull boring mess, terrible plot $i" >>"$T/neg.txt"
done
train text text --model nbsvm --pos "$T/pos.txt" --neg "$T/neg.txt" --out "$T/repo/reviews"
mkdir -p "$T/cases"
"$PY" - "$T" <<'EOF'
import random, sys
import numpy as np
t = sys.argv[1]
random.seed(1)
def image(label, noise=True):
    return [(200 if (r < 14) == (label == 0) else 10) + (random.randint(0, 20) if noise else 0)
            for r in range(28) for c in range(28)]
with open(t + "/images.csv", "w") as f:
    for i in range(40):
        f.write(",".join(map(str, [i % 2] + image(i % 2))) + "\n")
np.save(t + "/cases/images.npy",
        np.array([image(0, False), image(1, False)], dtype=np.uint8).reshape(2, 28, 28))
EOF
train cnn cnn --train-images "$T/images.csv" --out "$T/repo/digits" --epochs 3 --batch 8 --seed 1

e2e_start_server --models "$T/repo" --drain-seconds 0 --gzip-min-bytes 64 --max-body-bytes 1048576

# ---- tritonclient.http, byte for byte -----------------------------------
out=$("$PY" "$SRC/tests/tritonclient_replay.py" "$PORT" "$T/cases" 2>&1)
echo "$out" | grep -v '^ok ' >&2
for c in fp32 int64 uint8 bytes_text bytes_reco compressed errors; do
  check "tritonclient.http: $c" "ok $c" "$(echo "$out" | grep -E "^(ok|FAIL) $c(:|$)" | cut -d: -f1)"
done

# ---- KServe V1 --------------------------------------------------------------
req GET /v1/models
check "V1 list: status" 200 "$STATUS"
check "V1 list: {\"models\": [names]}" "['digits', 'iris', 'movies', 'reviews']" "$(json 'sorted(j["models"])')"
check "V1 list: Encore's details beside" "iris forest" "$(json '[(d["name"], d["family"]) for d in j["details"] if d["name"] == "iris"][0][0] + " " + [d["family"] for d in j["details"] if d["name"] == "iris"][0]')"
req GET /v1/models/iris
check "V1 model: name, ready" "iris True" "$(json 'j["name"] + " " + str(j["ready"])')"
check "V1 model: Encore's description kept" "forest" "$(json 'j["family"]')"
req GET /v1/models/nope
check "V1 unknown model: 404" "404 True" "$STATUS $(json '"error" in j')"
IR='[5.1, 3.5, 1.4, 0.2]'
for body in "{\"inputs\": [$IR]}" \
            "{\"signature_name\": \"serving_default\", \"instances\": [$IR]}" \
            "{\"parameters\": {\"a\": 1}, \"instances\": [$IR]}" \
            "{\"inputs\": {\"input\": [$IR]}}" \
            '{"inputs": {"sepal_length": [5.1], "sepal_width": [3.5], "petal_length": [1.4], "petal_width": [0.2]}}' \
            "{\"instances\": [{\"input\": $IR}]}"; do
  req POST /v1/models/iris:predict "$body"
  check "V1 predict $body" "200 setosa" "$STATUS $(json 'j["predictions"][0]["label"]')"
done
req POST /v1/models/reviews:predict '{"inputs": {"text": ["a wonderful moving film"]}}'
check "V1 predict: columnar text" "200 1" "$STATUS $(json 'len(j["predictions"])')"
req POST /v1/models/iris:predict '{"inputs": {"sepal_length": [5.1, 4.9], "sepal_width": [3.5]}}'
check "V1 predict: ragged columns" "400 True" "$STATUS $(json '"inputs.sepal_width has 1 values" in j["error"]')"

# ---- /v2/ and HEAD ----------------------------------------------------------
req GET /v2/
check "GET /v2/" "200 True" "$STATUS $(json '"binary_tensor_data" in j["extensions"]')"
req GET /v2
check "GET /v2" "200 True" "$STATUS $(json '"binary_tensor_data" in j["extensions"]')"
for p in /healthz /readyz /metrics /v1/models /v1/models/iris /v2 /v2/ /v2/health/live \
         /v2/health/ready /v2/models/iris /v2/models/iris/ready /v2/models/iris/versions/1 \
         /v2/models/iris/versions/1/ready; do
  h=$(curl -s -m 10 -I -o "$T/head.body" -w '%{http_code} %{size_download}' "http://127.0.0.1:$PORT$p")
  check "HEAD $p" "200 0" "$h"
done
check "HEAD on a POST route: 405" 405 "$(curl -s -m 10 -I -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/models/iris/infer")"

# ---- Content-Encoding / Accept-Encoding -----------------------------------
printf '%s' "{\"instances\": [$IR]}" | gzip -c >"$T/body.gz"
printf '%s' "{\"instances\": [$IR]}" | "$PY" -c 'import sys, zlib; sys.stdout.buffer.write(zlib.compress(sys.stdin.buffer.read()))' >"$T/body.zz"
req POST /v1/models/iris:predict "@$T/body.gz" -H 'Content-Encoding: gzip'
check "gzip body" "200 setosa" "$STATUS $(json 'j["predictions"][0]["label"]')"
req POST /v1/models/iris:predict "@$T/body.zz" -H 'Content-Encoding: deflate'
check "deflate body" "200 setosa" "$STATUS $(json 'j["predictions"][0]["label"]')"
# 64 MB of JSON whitespace gzips to ~64 KB: under max_body_bytes on the wire, over it decoded
"$PY" -c 'import gzip, sys; sys.stdout.buffer.write(gzip.compress(b"{\"instances\": [[" + b" " * (64 << 20) + b"5.1, 3.5, 1.4, 0.2]]}", 9))' >"$T/bomb.gz"
check "the bomb is small on the wire" 1 "$(( $(stat -c %s "$T/bomb.gz") < 1048576 ))"
req POST /v1/models/iris:predict "@$T/bomb.gz" -H 'Content-Encoding: gzip'
check "gzip bomb: 413" "413 True" "$STATUS $(json '"decompresses" in j["error"] and "max_body_bytes" in j["error"]')"
head -c 20 "$T/body.gz" >"$T/cut.gz"
req POST /v1/models/iris:predict "@$T/cut.gz" -H 'Content-Encoding: gzip'
check "truncated gzip: 400" "400 True" "$STATUS $(json '"truncated" in j["error"]')"
req POST /v1/models/iris:predict "{\"instances\": [$IR]}" -H 'Content-Encoding: br'
check "unknown coding: 415" "415 True" "$STATUS $(json '"br" in j["error"]')"
req GET /healthz
check "the server lives on" 200 "$STATUS"
hdrs=$(curl -s -m 10 -D - -o "$T/models.gz" -H 'Accept-Encoding: gzip' "http://127.0.0.1:$PORT/v1/models" | tr -d '\r')
check_contains "Accept-Encoding: gzip answer" "Content-Encoding: gzip" "$hdrs"
check_contains "Vary" "Vary: Accept-Encoding" "$hdrs"
check "gzip answer decodes" "iris" "$(gzip -dc "$T/models.gz" | "$PY" -c 'import json,sys; print([m for m in json.load(sys.stdin)["models"] if m == "iris"][0])')"
hdrs=$(curl -s -m 10 -D - -o /dev/null -H 'Accept-Encoding: gzip;q=0' "http://127.0.0.1:$PORT/v1/models" | tr -d '\r')
check "gzip;q=0: identity" "" "$(echo "$hdrs" | grep -i '^Content-Encoding' || true)"

# ---- 10 MB in one write, then read: the 413 arrives (lingering close) --------
big=$("$PY" - "$PORT" <<'EOF'
import http.client, sys
port = int(sys.argv[1])
body = b'{"instances": [' + b"1," * (5 << 20) + b"1]}"
results = []
for attempt in range(3):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("POST", "/v1/models/iris:predict", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        results.append("%d %s" % (r.status, b"max_body_bytes" in r.read()))
    except Exception as e:   # BrokenPipeError / ConnectionResetError without lingering close
        results.append(type(e).__name__)
    c.close()
print(len(body) > 10 << 20, *results)
EOF
)
check "10 MB body, written whole: the client reads 413 (x3)" "True 413 True 413 True 413 True" "$big"
req GET /healthz
check "alive after the big bodies" 200 "$STATUS"

e2e_finish
