#!/usr/bin/env bash
# e2e_import.sh - `encore-train import` round trip against factors written by numpy.
#
# numpy writes random user and item factors the way the `implicit` library leaves
# them (user_factors.npy float32, item_factors.npy float64 here, ids as .npy str /
# int64 arrays) and the way Spark MLlib's ALS exports them (CSV: id,"[f0, f1, ...]").
# Both are imported into a model repository, the real encore-server loads them, and
# for every user a recommend request must return exactly the numpy top-k of U @ V.T,
# with scores equal to the dot products (float32 tolerance) - plus the Spark CSV model
# must score the same as the .npy one. Skips (exit 77, saying so) when /usr/bin/python3
# has no numpy (a failure under CI=true: scripts/deps.sh installs python3-numpy).
#
# Usage: tests/e2e_import.sh BUILD_DIR     (ctest passes it)
set -euo pipefail

BUILD=${1:?usage: e2e_import.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
. "$(dirname "$0")/lib/e2e.sh"   # e2e_need, e2e_sanitizer_check: this test keeps its own cleanup
PY=/usr/bin/python3
e2e_need python3-numpy "$PY" -c 'import numpy'
for b in encore-train encore-server; do
  [ -x "$BUILD/$b" ] || { echo "e2e_import: FAIL: $BUILD/$b not built"; exit 1; }
done

T=$(mktemp -d /tmp/encore-e2e-import.XXXXXX)
SERVER_PID=""
cleanup() {
  local rc=$?
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  e2e_sanitizer_check "$T/server.log" || rc=1
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT

"$PY" - "$T" <<'EOF'
import sys, numpy as np
t = sys.argv[1]
rng = np.random.default_rng(7)
nu, ni, f = 60, 250, 16
U = rng.standard_normal((nu, f)).astype(np.float32)
V = rng.standard_normal((ni, f))              # float64: converted on import
np.save(f"{t}/user_factors.npy", U)
np.save(f"{t}/item_factors.npy", V)
np.save(f"{t}/user_ids.npy", np.array([f"user-{i}" for i in range(nu)]))      # '<U..'
np.save(f"{t}/item_ids.npy", np.arange(1000, 1000 + 7 * ni, 7, dtype=np.int64))
# Spark MLlib ALS: model.userFactors / itemFactors exported as id,"[features]"
with open(f"{t}/users.csv", "w") as fh:
    fh.write("id,features\n")
    for i in range(nu):
        fh.write(f'user-{i},"[{", ".join(repr(float(x)) for x in U[i])}]"\n')
with open(f"{t}/items.csv", "w") as fh:
    fh.write("id,features\n")
    for i in range(ni):
        fh.write(f'{1000 + 7 * i},"[{", ".join(repr(float(x)) for x in V[i].astype(np.float32))}]"\n')
EOF

"$BUILD/encore-train" import --user-factors "$T/user_factors.npy" --item-factors "$T/item_factors.npy" \
  --user-ids "$T/user_ids.npy" --item-ids "$T/item_ids.npy" --out "$T/repo/implicit" > "$T/import1.json"
"$BUILD/encore-train" import --user-factors "$T/users.csv" --item-factors "$T/items.csv" \
  --out "$T/repo/spark" > "$T/import2.json"
cat "$T/import1.json" "$T/import2.json"

# a malformed .npy is refused with a message naming the file (exit 1)
printf '\x93NUMPY\x01\x00\x11\x00{"descr": "<f4"}\n' > "$T/bad.npy"
if "$BUILD/encore-train" import --user-factors "$T/bad.npy" --item-factors "$T/item_factors.npy" \
     --user-ids "$T/user_ids.npy" --item-ids "$T/item_ids.npy" --out "$T/repo/bad" 2> "$T/bad.err"; then
  echo "e2e_import: FAIL: a malformed .npy was accepted"; exit 1
fi
grep -q "bad.npy" "$T/bad.err" || { echo "e2e_import: FAIL: error does not name the file:"; cat "$T/bad.err"; exit 1; }
[ ! -e "$T/repo/bad" ] || { echo "e2e_import: FAIL: a failed import left $T/repo/bad"; exit 1; }

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ENCORE_DRAIN_SECONDS=0 "$BUILD/encore-server" --models "$T/repo" --host 127.0.0.1 --port "$PORT" \
  > "$T/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "e2e_import: FAIL: server exited"; cat "$T/server.log"; exit 1; }
  sleep 0.1
done
curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "e2e_import: FAIL: not ready"; cat "$T/server.log"; exit 1; }

"$PY" - "$T" "$PORT" <<'EOF'
import json, sys, urllib.request, numpy as np
t, port = sys.argv[1], sys.argv[2]
U = np.load(f"{t}/user_factors.npy").astype(np.float64)
V = np.load(f"{t}/item_factors.npy").astype(np.float32).astype(np.float64)
uids = [str(x) for x in np.load(f"{t}/user_ids.npy")]
iids = [str(x) for x in np.load(f"{t}/item_ids.npy")]
S = U @ V.T
k = 10
worst = 0.0
def ask(model, user):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models/{model}:recommend",
                                 data=json.dumps({"user": user, "k": k}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)
checked = 0
for model in ("implicit", "spark"):
    for u, uid in enumerate(uids):
        res = ask(model, uid)
        assert "fallback" not in res, res
        items = res["items"]
        assert len(items) == k, (model, uid, len(items))
        order = np.argsort(-S[u], kind="stable")
        kth = S[u][order[k - 1]]
        for rank, it in enumerate(items):
            i = iids.index(it["item"])
            exact = S[u][i]
            err = abs(it["score"] - exact)
            worst = max(worst, err / max(1.0, abs(exact)))
            assert err <= 1e-4 * max(1.0, abs(exact)), (model, uid, it, exact)
            # a member of the true top k (up to float32 rounding at the boundary)
            assert exact >= kth - 1e-4 * max(1.0, abs(kth)), (model, uid, it, kth)
        got = [iids.index(it["item"]) for it in items]
        want = list(order[:k])
        if got != want:   # only float32 near-ties may reorder
            gaps = [abs(S[u][a] - S[u][b]) for a, b in zip(got, want) if a != b]
            assert max(gaps) < 1e-4 * max(1.0, abs(kth)), (model, uid, got, want)
        checked += 1
print(f"e2e_import: {checked} recommend requests over 2 imported models match numpy's U @ V.T "
      f"top-{k}; worst relative score error {worst:.2e}")
EOF

kill -TERM "$SERVER_PID"
wait "$SERVER_PID" && rc=0 || rc=$?
SERVER_PID=""
[ "$rc" -eq 0 ] || { echo "e2e_import: FAIL: server exited $rc on SIGTERM"; tail -5 "$T/server.log"; exit 1; }
echo "e2e_import: PASS"
