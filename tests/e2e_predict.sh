#!/usr/bin/env bash
# e2e_predict.sh - the predict protocols end to end: the real encore-train
# builds iris forests (two versions), a linear model, an ALS recommender, an
# NBSVM text model and a small CNN on generated 28x28 images (b64 PGM and PNG
# too); every family is part of the build, so a training failure fails the
# test (nothing here is skipped); the real
# encore-server serves them and curl exercises KServe V1 :predict and every
# Open Inference Protocol V2 endpoint, good and bad requests, checking status
# codes and bodies.   Usage: bash tests/e2e_predict.sh BUILD_DIR
. "$(dirname "$0")/lib/e2e.sh"
e2e_init "$1"
SRC=$(cd "$(dirname "$0")/.." && pwd)
IRIS=$SRC/tests/data/iris

train() {  # LOG ARGS...: run encore-train, show its log on failure
  local log=$1; shift
  "$BUILD/encore-train" "$@" >"$T/$log.out" 2>"$T/$log.log" || { cat "$T/$log.log" >&2; exit 1; }
}
train forest1 forest --data "$IRIS/train.csv" --label species --out "$T/repo/iris" --trees 25 --seed 1
train linear linear --data "$IRIS/train.csv" --label species --loss logistic --out "$T/repo/iris_linear"
# a small deterministic interaction table: 30 users x 40 items, 8 each
awk 'BEGIN { for (u = 1; u <= 30; u++) for (k = 0; k < 8; k++)
               printf "u%d\ti%d\t1\n", u, (u * 7 + k * k * 3 + k) % 40 + 1 }' >"$T/interactions.tsv"
train als als --interactions "$T/interactions.tsv" --format tsv --out "$T/repo/movies" \
  --factors 8 --iterations 3
for i in $(seq 20); do
  echo "a wonderful moving film, great acting $i" >>"$T/pos.txt"
  echo "a dull boring mess, terrible plot $i" >>"$T/neg.txt"
done
train text text --model nbsvm --pos "$T/pos.txt" --neg "$T/neg.txt" --out "$T/repo/reviews"

# 28x28 images: class 0 bright on top, class 1 bright at the bottom
python3 - "$T" <<'EOF'
import base64, json, random, struct, sys, zlib
t = sys.argv[1]
random.seed(1)
def image(label, noise=True):
    return [(200 if (r < 14) == (label == 0) else 10) + (random.randint(0, 20) if noise else 0)
            for r in range(28) for c in range(28)]
with open(t + "/images.csv", "w") as f:
    for i in range(40):
        f.write(",".join(map(str, [i % 2] + image(i % 2))) + "\n")
top, bottom = image(0, False), image(1, False)
rows = lambda px: [px[r * 28:(r + 1) * 28] for r in range(28)]
def png(w, h, px):
    raw = b"".join(b"\0" + bytes(px[r * w:(r + 1) * w]) for r in range(h))
    chunk = lambda k, d: struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
pgm = lambda w, h, px: b"P5\n%d %d\n255\n" % (w, h) + bytes(px)
b64 = lambda b: base64.b64encode(b).decode()
bodies = {
    "nested": {"instances": [rows(top), rows(bottom)]},
    "flat": {"instances": [bottom]},
    "chw": {"instances": [[rows(top)]]},
    "b64": {"instances": [{"b64": b64(pgm(28, 28, top))}, {"b64": b64(png(28, 28, bottom))}]},
    "b64_size": {"instances": [{"b64": b64(pgm(28, 27, top[:28 * 27]))}]},
    "shape": {"instances": [[top[:392], top[392:]]]},
    "range": {"instances": [top[:783] + [300]]},
    "v2_uint8": {"inputs": [{"name": "input", "shape": [2, 28, 28], "datatype": "UINT8", "data": top + bottom}]},
    "v2_flat": {"inputs": [{"name": "input", "shape": [1, 784], "datatype": "FP32", "data": [bottom]}]},
    "v2_nchw": {"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": [[rows(top)]]}]},
}
for k, v in bodies.items():
    json.dump(v, open("%s/img_%s.json" % (t, k), "w"))
EOF
train cnn cnn --train-images "$T/images.csv" --out "$T/repo/digits" --epochs 3 --batch 8 --seed 1

e2e_start_server --models "$T/repo" --drain-seconds 0 --versions-kept 2 --max-instances 40 \
  --max-text-bytes 64 || exit 1

# a second forest version while serving; SIGHUP loads it and keeps version 1
train forest2 forest --data "$IRIS/train.csv" --label species --out "$T/repo/iris" --trees 25 --seed 2
check "two forest versions" yes "$([ -f "$T/repo/iris/2/model.safetensors" ] && echo yes)"
kill -HUP "$SRV_PID"
for i in $(seq 50); do
  req GET /v2/models/iris/ready
  [ "$(json 'j["version"]')" = 2 ] && break
  sleep 0.1
done
check "version 2 served after SIGHUP" 2 "$(json 'j["version"]')"

# ---- V1 :predict
ROW_SETOSA='[5.1, 3.5, 1.4, 0.2]'
req POST /v1/models/iris:predict "{\"instances\": [$ROW_SETOSA, [6.7, 3.0, 5.2, 2.3]]}"
check "v1 status" 200 "$STATUS"
check "v1 model and version" "iris 2" "$(json 'j["model"], j["version"]' | tr -d "(),'")"
check "v1 labels" "['setosa', 'virginica']" "$(json '[p["label"] for p in j["predictions"]]')"
check "v1 probabilities sum to 1" True "$(json 'all(abs(sum(p["probabilities"].values())-1)<1e-4 for p in j["predictions"])')"
check "v1 class names" "['setosa', 'versicolor', 'virginica']" "$(json 'sorted(j["predictions"][0]["probabilities"])')"
req POST /v1/models/iris:predict '{"inputs": [{"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}]}'
check "v1 named features (inputs)" virginica "$(json 'j["predictions"][0]["label"]')"
req POST /v1/models/iris:predict "{\"instances\": [[$ROW_SETOSA]]}"
check "v1 nested [1][4]" setosa "$(json 'j["predictions"][0]["label"]')"
req POST /v1/models/iris_linear:predict "{\"instances\": [$ROW_SETOSA]}"
check "v1 linear family" setosa "$(json 'j["predictions"][0]["label"]')"

# held-out accuracy through the protocol (the forest's own quality is tested elsewhere)
TEST_BODY=$(python3 - "$IRIS/test.csv" <<'EOF'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(json.dumps({"instances": [[float(r[k]) for k in ("sepal_length", "sepal_width", "petal_length", "petal_width")] for r in rows]}))
EOF
)
req POST /v1/models/iris:predict "$TEST_BODY"
ACC=$(printf '%s' "$BODY" | python3 -c "
import csv, json, sys
j = json.load(sys.stdin); rows = list(csv.DictReader(open('$IRIS/test.csv')))
print(sum(p['label'] == r['species'] for p, r in zip(j['predictions'], rows)) / len(rows))")
check "v1 held-out accuracy >= 0.9" True "$(python3 -c "print($ACC >= 0.9)")"

expect_error() {  # NAME STATUS NEEDLE METHOD PATH [BODY] [CURL ARGS]
  local name=$1 want=$2 needle=$3; shift 3
  req "$@"
  check "$name" "$want" "$STATUS"
  check_contains "$name: message" "$needle" "$(json 'j["error"]')"
}
expect_error "v1 feature count" 400 "instances[1]: expected 4 values, got 3" \
  POST /v1/models/iris:predict "{\"instances\": [$ROW_SETOSA, [1, 2, 3]]}"
expect_error "v1 wrong type" 400 "instances[0][1] (sepal_width): expected a number, got a string" \
  POST /v1/models/iris:predict '{"instances": [[1, "2", 3, 4]]}'
expect_error "v1 overflow to inf" 400 "instances[0][3] (petal_width)" \
  POST /v1/models/iris:predict '{"instances": [[1, 2, 3, 1e39]]}'
expect_error "v1 missing named feature" 400 "instances[0].petal_width: missing feature" \
  POST /v1/models/iris:predict '{"instances": [{"sepal_length": 1, "sepal_width": 2, "petal_length": 3}]}'
expect_error "v1 unknown named feature" 400 "unknown feature 'colour'" \
  POST /v1/models/iris:predict '{"instances": [{"sepal_length": 1, "sepal_width": 2, "petal_length": 3, "petal_width": 1, "colour": 2}]}'
expect_error "v1 image for a table" 400 "not one grayscale image plane" \
  POST /v1/models/iris:predict '{"instances": [{"b64": "UDUKMiAyCjI1NQoAAAAA"}]}'
expect_error "v1 no instances field" 400 "'instances' is required" POST /v1/models/iris:predict '{}'
expect_error "v1 unknown field" 400 "unknown field 'rows'" POST /v1/models/iris:predict '{"rows": []}'
expect_error "v1 empty instances" 400 "is empty" POST /v1/models/iris:predict '{"instances": []}'
MANY=$(python3 -c "print('{\"instances\": [' + ','.join(['[1,2,3,4]'] * 41) + ']}')")
expect_error "v1 too many instances" 400 "41 instances; the limit is 40" POST /v1/models/iris:predict "$MANY"
expect_error "v1 unknown model" 404 "unknown model 'nope'" POST /v1/models/nope:predict "{\"instances\": [$ROW_SETOSA]}"
expect_error "v1 recommend model" 400 ":recommend" POST /v1/models/movies:predict '{"instances": [[1]]}'
expect_error "v1 malformed json" 400 "malformed JSON" POST /v1/models/iris:predict '{"instances": [[1,'
expect_error "v1 wrong method" 405 "not allowed" GET /v1/models/iris:predict

# ---- V2 server and health
req GET /v2
check "v2 server" 200 "$STATUS"
check "v2 server name" encore "$(json 'j["name"]')"
check "v2 server extensions" True "$(json 'isinstance(j["extensions"], list) and "version" in j')"
req GET /v2/health/live;  check "v2 live" 200 "$STATUS"
req GET /v2/health/ready; check "v2 ready" 200 "$STATUS"

# ---- V2 model metadata and readiness
req GET /v2/models/iris
check "v2 metadata" 200 "$STATUS"
check "v2 metadata versions" "['2', '1']" "$(json 'j["versions"]')"
check "v2 metadata input" "input FP32 [-1, 4]" "$(json '" ".join([j["inputs"][0]["name"], j["inputs"][0]["datatype"], str(j["inputs"][0]["shape"])])')"
check "v2 metadata outputs" "label:BYTES:[-1] probabilities:FP32:[-1, 3]" \
  "$(json '" ".join("%s:%s:%s" % (o["name"], o["datatype"], o["shape"]) for o in j["outputs"])')"
req GET /v2/models/iris/versions/1;  check "v2 versioned metadata" 200 "$STATUS"
req GET /v2/models/iris/ready;       check "v2 model ready" 200 "$STATUS"
check "v2 model ready body" "True 2" "$(json 'j["ready"], j["version"]' | tr -d "(),'")"
req GET /v2/models/iris/versions/1/ready
check "v2 version ready" 200 "$STATUS"
check "v2 version ready version" 1 "$(json 'j["version"]')"
expect_error "v2 unknown version ready" 404 "no loaded version 9" GET /v2/models/iris/versions/9/ready
expect_error "v2 bad version" 400 "positive integer" GET /v2/models/iris/versions/abc
expect_error "v2 unknown model metadata" 404 "unknown model" GET /v2/models/nope
expect_error "v2 unknown model ready" 404 "unknown model" GET /v2/models/nope/ready
req GET /v2/models/movies
check "v2 recommend metadata" "user item_ids scores" \
  "$(json '" ".join([j["inputs"][0]["name"]] + [o["name"] for o in j["outputs"]])')"

# ---- V2 infer
V2_BODY='{"id": "req-7", "parameters": {"note": "x"}, "inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3]}]}'
req POST /v2/models/iris/infer "$V2_BODY"
check "v2 infer" 200 "$STATUS"
check "v2 infer id echoed" req-7 "$(json 'j["id"]')"
check "v2 infer model" "iris 2" "$(json 'j["model_name"], j["model_version"]' | tr -d "(),'")"
check "v2 infer labels" "['setosa', 'virginica']" "$(json '[o for o in j["outputs"] if o["name"]=="label"][0]["data"]')"
check "v2 infer probabilities shape" "[2, 3] FP32" "$(json '" ".join(str(v) for v in [[o for o in j["outputs"] if o["name"]=="probabilities"][0][k] for k in ("shape","datatype")])')"
req POST /v2/models/iris/versions/1/infer "$V2_BODY"
check "v2 versioned infer" "200 1" "$STATUS $(json 'j["model_version"]')"
for dt in FP64 INT32 INT64 UINT8; do
  req POST /v2/models/iris/infer "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"$dt\", \"data\": [[5, 3, 1, 0]]}]}"
  check "v2 infer $dt nested" "200 setosa" "$STATUS $(json 'j["outputs"][0]["data"][0]')"
done
req POST /v2/models/iris/infer '{"outputs": [{"name": "probabilities"}], "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}'
check "v2 requested outputs only" "['probabilities']" "$(json '[o["name"] for o in j["outputs"]]')"
expect_error "v2 shape mismatch" 400 "inputs[0].shape [1, 5] does not match" \
  POST /v2/models/iris/infer '{"inputs": [{"name": "input", "shape": [1, 5], "datatype": "FP32", "data": [1, 2, 3, 4, 5]}]}'
expect_error "v2 data length" 400 "has 3 values; shape [1, 4] needs 4" \
  POST /v2/models/iris/infer '{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3]}]}'
expect_error "v2 int type" 400 "inputs[0].data[6] (petal_length) (instance 1): expected an integer (INT32)" \
  POST /v2/models/iris/infer '{"inputs": [{"name": "input", "shape": [2, 4], "datatype": "INT32", "data": [1, 2, 3, 4, 5, 6, 7.5, 8]}]}'
expect_error "v2 uint8 range" 400 "does not fit UINT8" \
  POST /v2/models/iris/infer '{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "UINT8", "data": [1, 2, 3, 400]}]}'
expect_error "v2 unsupported datatype" 400 "'FP16' is not supported" \
  POST /v2/models/iris/infer '{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP16", "data": [1, 2, 3, 4]}]}'
expect_error "v2 bytes for numbers" 400 "not BYTES" \
  POST /v2/models/iris/infer '{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "BYTES", "data": ["a", "b", "c", "d"]}]}'
expect_error "v2 no inputs" 400 "'inputs' is required" POST /v2/models/iris/infer '{"id": "1"}'
expect_error "v2 unknown output" 400 "unknown output 'logits'" \
  POST /v2/models/iris/infer '{"outputs": [{"name": "logits"}], "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}'
expect_error "v2 infer unknown model" 404 "unknown model" POST /v2/models/nope/infer "$V2_BODY"
expect_error "v2 infer unknown version" 404 "no loaded version 5" POST /v2/models/iris/versions/5/infer "$V2_BODY"
expect_error "v2 infer wrong method" 405 "not allowed" GET /v2/models/iris/infer

# ---- V2 infer on the recommendation model
USER_ID=u1
req POST /v2/models/movies/infer "{\"parameters\": {\"k\": 3}, \"inputs\": [{\"name\": \"user\", \"shape\": [2], \"datatype\": \"BYTES\", \"data\": [\"$USER_ID\", \"no-such-user\"]}]}"
check "v2 recommend" 200 "$STATUS"
check "v2 recommend shapes" "[[2, 3], [2, 3]]" "$(json '[o["shape"] for o in j["outputs"]]')"
check "v2 recommend names" "['item_ids', 'scores']" "$(json '[o["name"] for o in j["outputs"]]')"
req POST /v1/models/movies:recommend "{\"user\": \"$USER_ID\", \"k\": 3}"
V1_ITEMS=$(json '[i["item"] for i in j["items"]]')
req POST /v2/models/movies/infer "{\"parameters\": {\"k\": 3}, \"inputs\": [{\"name\": \"user\", \"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"$USER_ID\"]}]}"
check "v2 recommend equals :recommend" "$V1_ITEMS" "$(json 'j["outputs"][0]["data"]')"
expect_error "v2 recommend bad k" 400 "parameters.k" \
  POST /v2/models/movies/infer '{"parameters": {"k": 0}, "inputs": [{"name": "user", "shape": [1], "datatype": "BYTES", "data": ["1"]}]}'

# ---- text
req GET /v2/models/reviews/ready
check "text model ready" 200 "$STATUS"
if [ "$STATUS" = 200 ]; then
  req POST /v1/models/reviews:predict '{"instances": ["a wonderful moving film", {"text": "a dull boring mess"}]}'
  check "v1 text" "200 2" "$STATUS $(json 'len(j["predictions"])')"
  req POST /v2/models/reviews/infer '{"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["great acting"]}]}'
  check "v2 text" 200 "$STATUS"
  expect_error "text empty" 400 "instances[1]: empty text" POST /v1/models/reviews:predict '{"instances": ["ok", ""]}'
  expect_error "text non-string" 400 "instances[0]: expected a string" POST /v1/models/reviews:predict '{"instances": [5]}'
  LONG=$(head -c 65 /dev/zero | tr '\0' 'a')
  expect_error "text too long" 400 "over the limit of 64" POST /v1/models/reviews:predict "{\"instances\": [\"$LONG\"]}"
fi

# ---- images
req GET /v2/models/digits/ready
check "image model ready" 200 "$STATUS"
if [ "$STATUS" = 200 ]; then
  img() { req POST "$1" "$(cat "$T/img_$2.json")"; }
  img /v1/models/digits:predict nested
  check "image v1 nested [28][28]" "200 ['0', '1']" "$STATUS $(json '[p["label"] for p in j["predictions"]]')"
  img /v1/models/digits:predict flat
  check "image v1 flat 784" "200 1" "$STATUS $(json 'j["predictions"][0]["label"]')"
  img /v1/models/digits:predict chw
  check "image v1 [1][28][28]" "200 0" "$STATUS $(json 'j["predictions"][0]["label"]')"
  img /v1/models/digits:predict b64
  check "image v1 b64 PGM and PNG" "200 ['0', '1']" "$STATUS $(json '[p["label"] for p in j["predictions"]]')"
  img /v2/models/digits/infer v2_uint8
  check "image v2 UINT8 [2, 28, 28]" "200 ['0', '1']" "$STATUS $(json 'j["outputs"][0]["data"]')"
  img /v2/models/digits/infer v2_flat
  check "image v2 FP32 [1, 784]" "200 ['1']" "$STATUS $(json 'j["outputs"][0]["data"]')"
  img /v2/models/digits/infer v2_nchw
  check "image v2 FP32 [1, 1, 28, 28]" "200 ['0']" "$STATUS $(json 'j["outputs"][0]["data"]')"
  img /v1/models/digits:predict shape
  check "image wrong shape" 400 "$STATUS"
  check_contains "image wrong shape: message" "the model's input shape [28, 28]" "$(json 'j["error"]')"
  img /v1/models/digits:predict range
  check "image value range" 400 "$STATUS"
  check_contains "image value range: message" "instances[0][783]: 300 is out of range" "$(json 'j["error"]')"
  img /v1/models/digits:predict b64_size
  check "image b64 size" 400 "$STATUS"
  check_contains "image b64 size: message" "image is 28x27" "$(json 'j["error"]')"
fi

req GET /healthz; check "still alive" 200 "$STATUS"
req GET /metrics
check_contains "metrics predict" 'route="predict",model="iris"' "$BODY"
check_contains "metrics v2 infer" 'route="v2_infer",model="iris"' "$BODY"

kill -TERM "$SRV_PID"
RC=124
for i in $(seq 100); do
  if ! kill -0 "$SRV_PID" 2>/dev/null; then wait "$SRV_PID"; RC=$?; break; fi
  sleep 0.1
done
check "exit code after SIGTERM" 0 "$RC"
SRV_PID=

e2e_finish
