#!/usr/bin/env bash
# e2e_ann.sh - a 200,000-item catalogue with an item index, served.
#
# numpy writes clustered factors with skewed norms (bench/catalog_synth.py,
# no data set needed); `encore-train import --index hnsw` builds the index
# into the model; the real encore-server answers recommend from the index
# ("search": "index") and, asked for "exact": true, by scoring every item;
# over 100 users the two top-10 lists must share >= 95% of their items on
# average. A candidate list of 20 items is too selective for the index:
# exact scan ("exact_fallback"), exactly k items, all from the list.
# `encore-train index --model` adds an index to an existing version (with
# --index-similar the cosine graph too: `similar` answers from it); a
# version whose index is corrupt (a link out of range, checksum re-signed)
# is refused on reload and the indexed version keeps serving.
#
# Usage: tests/e2e_ann.sh BUILD_DIR     (ctest passes it)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/e2e.sh"
e2e_init "${1:?usage: e2e_ann.sh BUILD_DIR}"
PY=/usr/bin/python3
if ! "$PY" -c 'import numpy' 2>/dev/null; then
  echo "e2e_ann: SKIP: $PY has no numpy (apt-get install python3-numpy)"
  exit 77
fi
ITEMS=${E2E_ANN_ITEMS:-200000}

"$PY" "$HERE/../bench/catalog_synth.py" --items "$ITEMS" --users 200 --factors 32 \
  --components 40 --seed 11 --out "$T/syn" 2>/dev/null
"$BUILD/encore-train" import --user-factors "$T/syn/user_factors.npy" \
  --item-factors "$T/syn/item_factors.npy" --user-ids "$T/syn/user_ids.txt" \
  --item-ids "$T/syn/item_ids.txt" --index hnsw --index-m 12 --index-ef-construction 64 \
  --out "$T/repo/big" >"$T/import.json" 2>"$T/import.log" \
  || { cat "$T/import.log" >&2; exit 1; }
check "import reports the index build" "yes" \
  "$(grep -q '"index_build_seconds"' "$T/import.json" && echo yes || echo no)"

# A small model indexed after the fact, served with the index from 1 item.
"$BUILD/encore-train" demo-data --dir "$T/demo" >/dev/null 2>&1
"$BUILD/encore-train" als --interactions "$T/demo/interactions.tsv" --items "$T/demo/items.csv" \
  --out "$T/repo/demo" --iterations 3 >/dev/null 2>&1
"$BUILD/encore-train" index --model "$T/repo/demo" --index-m 8 --index-similar >"$T/index.json" 2>"$T/index.log" \
  || { cat "$T/index.log" >&2; exit 1; }
check "encore-train index publishes version 2" "2" \
  "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$T/index.json")"

e2e_start_server --models "$T/repo" --ef-search 300 --index-min-items 400 --access-log false
req GET /v1/models/big
check "the big model describes its index" "hnsw" "$(json 'j["index"]["type"]')"
check "its default beam is the one encore-train measured on its users" "True" \
  "$(json 'j["index"]["ef_search"] == j["hyperparameters"]["index"]["ef_search"] and j["hyperparameters"]["index"]["ef_search_recall_at_10"] >= 0.95')"
req POST /v1/models/big:recommend '{"user": "u3", "k": 10}'
check "recommend answers from the index" "index 10" "$(json 'j["search"], len(j["items"])')"
req POST /v1/models/big:recommend '{"user": "u3", "k": 10, "exact": true}'
check "exact: true scores every item" "exact 10" "$(json 'j["search"], len(j["items"])')"
req POST /v1/models/big:recommend '{"user": "u3", "exact": 1}'
check "exact must be a boolean" "400" "$STATUS"
cands=$(seq 100 7 233 | sed 's/^/"i/; s/$/"/' | paste -sd,)
req POST /v1/models/big:recommend "{\"user\": \"u5\", \"k\": 10, \"candidates\": [$cands]}"
check "20 candidates: exact fallback, exactly k from them" "exact_fallback 10 True" \
  "$(json "j['search'], len(j['items']), all(int(i['item'][1:]) in range(100, 234, 7) for i in j['items'])")"
req POST /v1/models/demo:recommend '{"user": "1", "k": 5}'
check "the demo model (400 items >= index_min_items) uses its new index" "index 5" \
  "$(json 'j["search"], len(j["items"])')"
first=$(curl -s "http://127.0.0.1:$PORT/v1/models/demo:recommend" -H 'Content-Type: application/json' \
  -d '{"user": "1", "k": 1}' | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["item"])') ||
  first=none # a failed request fails the checks below, loudly (not set -e's silent exit)
req POST /v1/models/demo:similar "{\"item\": \"$first\", \"k\": 5}"
check "similar answers from the cosine graph (--index-similar), k items, never the item" "index 5 True" \
  "$(json "j['search'], len(j['items']), all(i['item'] != '$first' for i in j['items'])")"
sim_index=$(json "sorted(i['item'] for i in j['items'])") || sim_index=none
req POST /v1/models/demo:similar "{\"item\": \"$first\", \"k\": 5, \"exact\": true}"
check "similar with exact: true scores every item, the same 5 here (ef 300, 400 items)" \
  "exact $sim_index" "$(json "j['search'], sorted(i['item'] for i in j['items'])")"

# Index vs exact over 100 users (one connection, numpy-free client).
overlap=$("$PY" - "$PORT" <<'EOF'
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
def ask(body):
    c.request("POST", "/v1/models/big:recommend", json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    return json.loads(r.read())
tot, n, paths = 0.0, 0, set()
for u in range(100):
    a = ask({"user": f"u{u}", "k": 10})
    b = ask({"user": f"u{u}", "k": 10, "exact": True})
    paths.add((a["search"], b["search"]))
    ia, ib = {i["item"] for i in a["items"]}, {i["item"] for i in b["items"]}
    tot += len(ia & ib) / 10
    n += 1
ok = paths == {("index", "exact")}
print(f"{tot / n:.3f} {'paths-ok' if ok else sorted(paths)}")
EOF
)
echo "e2e_ann: mean top-10 overlap, index vs exact, 100 users: $overlap"
check "the paths answered as asked" "paths-ok" "${overlap#* }"
check "mean top-10 overlap >= 0.95" "yes" "$(awk -v o="${overlap%% *}" 'BEGIN { print (o >= 0.95) ? "yes" : "no" }')"

# A corrupt index in a new version: refused, version 1 keeps serving.
"$PY" - "$T/repo/big/1/model.safetensors" "$T/repo/big" <<'EOF'
import hashlib, json, os, struct, sys
raw = bytearray(open(sys.argv[1], "rb").read())
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n])
b, _ = h["index.level0"]["data_offsets"]
struct.pack_into("<i", raw, 8 + n + b + 4 * 1, 1 << 30)       # item 0's first link, far out of range
old = h["__metadata__"]["data_sha256"]
new = hashlib.sha256(raw[8 + n:]).hexdigest()
raw[8:8 + n] = raw[8:8 + n].replace(old.encode(), new.encode())   # same length: re-signed
tmp = os.path.join(sys.argv[2], ".tmp-corrupt")
os.makedirs(tmp)
open(os.path.join(tmp, "model.safetensors"), "wb").write(raw)
os.rename(tmp, os.path.join(sys.argv[2], "2"))
EOF
kill -HUP "$SRV_PID"
for _ in $(seq 100); do
  grep -q "index.level0" "$T/server.log" && break
  sleep 0.1
done
check_contains "the corrupt index is refused, naming the tensor" "index.level0" "$(cat "$T/server.log")"
req POST /v1/models/big:recommend '{"user": "u3", "k": 10}'
check "version 1 keeps serving from its index" "1 index" "$(json 'j["version"], j["search"]')"
e2e_finish
