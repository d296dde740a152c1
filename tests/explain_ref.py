#!/usr/bin/python3
"""explain_ref.py - numpy reference for "explain": true (models/mf/explain.c),
used by tests/e2e_diversity.sh: Hu, Koren & Volinsky (2008) section 5, the
per-item contributions implicit's explain() computes.

For a user of the model (USER) or a history (HISTORY: comma-separated item
ids, a user the model never saw), reads the server's answer (JSON on stdin)
and checks every recommended item's "because" list: the top-3 items by
contribution c_j * y_i' W y_j with W = (Y'Y + Y'(C - I)Y + reg I)^-1,
c_j = 1 + alpha, and their shares of the sum of all contributions. Exit 0
if all agree (items exactly, shares within 1e-3), 1 otherwise.

Usage: explain_ref.py MODEL.safetensors (user USER | history ITEMS |
       weighted ITEM:WEIGHT,...) < ANSWER.json
(weighted: an unknown user's events, c_j = 1 + alpha |w_j|, preference w_j > 0)"""
import json, struct, sys
import numpy as np

DT = {"F32": "<f4", "I32": "<i4", "I64": "<i8", "U8": "u1"}
raw = open(sys.argv[1], "rb").read()
hn = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + hn])
meta = header.pop("__metadata__")
t = {k: np.frombuffer(raw, DT[v["dtype"]], offset=8 + hn + v["data_offsets"][0],
                      count=int(np.prod(v["shape"]))).reshape(v["shape"]) for k, v in header.items()}


def strings(name):
    b, o = t[name + ".bytes"].tobytes(), t[name + ".offsets"]
    return [b[o[i]:o[i + 1]].decode() for i in range(len(o) - 1)]


items, users = strings("item_ids"), strings("user_ids")
irow = {s: r for r, s in enumerate(items)}
Y = t["item_factors"].astype(np.float64)
alpha = float(meta["alpha"])
if sys.argv[2] == "user":
    u = users.index(sys.argv[3])
    basis = t["seen.items"][t["seen.offsets"][u]:t["seen.offsets"][u + 1]]
    conf = np.full(len(basis), 1 + alpha)
elif sys.argv[2] == "history":
    basis = np.array([irow[s] for s in sys.argv[3].split(",")])
    conf = np.full(len(basis), 1 + alpha)
else:   # weighted: ITEM:WEIGHT,... (an unknown user's summed event weights)
    pairs = [p.split(":") for p in sys.argv[3].split(",")]
    basis = np.array([irow[i] for i, _ in pairs])
    w = np.array([float(x) for _, x in pairs])
    conf = 1 + alpha * np.abs(w)
    pref = (w > 0).astype(float)
reg = float(meta["regularization"])
hyper = json.loads(meta.get("hyperparameters", "{}"))
if "reg_exponent" in hyper and "mean_user_interactions" in hyper:
    reg *= (len(basis) / hyper["mean_user_interactions"]) ** hyper["reg_exponent"]
if sys.argv[2] != "weighted":
    pref = np.ones(len(basis))
Yb = Y[basis]
A = Y.T @ Y + reg * np.eye(Y.shape[1]) + Yb.T @ ((conf - 1)[:, None] * Yb)
W = np.linalg.inv(A)
answer = json.load(sys.stdin)
bad = checked = 0
for it in answer["items"]:
    i = irow[it["item"]]
    contrib = conf * pref * (Yb @ (W @ Y[i]))
    total = contrib.sum()
    # sum duplicates (a history may repeat an item), keep positive ones, best first
    per = {}
    for r, v in zip(basis, contrib):
        per[int(r)] = per.get(int(r), 0.0) + v
    top = sorted(((v, r) for r, v in per.items() if v > 0), key=lambda p: -p[0])[:3]
    want = [(items[r], v / total) for v, r in top]
    got = [(b["item"], b["share"]) for b in it["because"]]
    # a near-tie may order differently in float32: then the server's item must
    # have (in numpy) the share the reference puts at that place
    def close(a, b):
        return abs(a - b) <= 1e-3 * max(1.0, abs(b))
    ok = len(want) == len(got) and all(
        close(g[1], w[1]) and (w[0] == g[0] or (g[0] in irow and close(per.get(irow[g[0]], 0) / total, w[1])))
        for w, g in zip(want, got))
    checked += 1
    if not ok:
        bad += 1
        print("item %s: server %s numpy %s" % (it["item"], got, want))
print("explain: %d items checked, %d mismatched" % (checked, bad))
sys.exit(1 if bad or not checked else 0)
