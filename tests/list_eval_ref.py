#!/usr/bin/python3
"""list_eval_ref.py - numpy reference for encore-train eval's list measures
(models/mf/list_eval.h), used by tests/e2e_diversity.sh.

Reads the training file, the model file (item factors) and the lists that
`encore-train eval --lists FILE` wrote, recomputes ild, ild_factors, arp,
long_tail, coverage and gini per recommender from the definitions, and
compares them with the eval's JSON. Exit 0 if all agree within 1e-4
(relative), 1 otherwise.

Usage: list_eval_ref.py TRAIN.tsv MODEL.safetensors LISTS EVAL.json"""
import json, math, struct, sys
import numpy as np

DT = {"F32": "<f4", "I32": "<i4", "I64": "<i8", "U8": "u1"}


def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    return {k: np.frombuffer(raw, DT[v["dtype"]], offset=8 + n + v["data_offsets"][0],
                             count=int(np.prod(v["shape"]))).reshape(v["shape"])
            for k, v in header.items()}


def strings(t, name):
    b, o = t[name + ".bytes"].tobytes(), t[name + ".offsets"]
    return [b[o[i]:o[i + 1]].decode() for i in range(len(o) - 1)]


train_path, model_path, lists_path, eval_path = sys.argv[1:5]
pairs = set()
for line in open(train_path):
    f = line.rstrip("\n").split("\t")
    if len(f) < 2 or f[0].lower() in ("user", "userid", "user_id", "uid"):
        continue
    if len(f) >= 3 and float(f[2]) <= 0:
        continue
    pairs.add((f[0], f[1]))
items = sorted({i for _, i in pairs}, key=lambda s: (0, int(s), "") if s.isdigit() else (1, 0, s))
row = {s: r for r, s in enumerate(items)}
users = sorted({u for u, _ in pairs})
urow = {s: r for r, s in enumerate(users)}
n = len(items)
R = np.zeros((len(users), n))
for u, i in pairs:
    R[urow[u], row[i]] = 1
pop = R.sum(axis=0)
# cosine of binary user columns
norms = np.sqrt(pop)
C = (R.T @ R) / np.maximum(np.outer(norms, norms), 1e-300)
# model item factors in training-catalogue order
t = load(model_path)
mids = {s: r for r, s in enumerate(strings(t, "item_ids"))}
V = np.zeros((n, t["item_factors"].shape[1]))
for s, r in row.items():
    if s in mids:
        V[r] = t["item_factors"][mids[s]]
vn = np.linalg.norm(V, axis=1, keepdims=True)
Vn = np.divide(V, vn, out=np.zeros_like(V), where=vn > 0)
CF = Vn @ Vn.T
# head: the ceil(0.2 n) most popular (ties: lower row)
order = np.lexsort((np.arange(n), -pop))
head = np.zeros(n, bool)
head[order[:math.ceil(0.2 * n)]] = True

lists = {}
for line in open(lists_path):
    label, user, ids = line.rstrip("\n").split("\t")
    lists.setdefault(label, []).append([row[s] for s in ids.split(",") if s])

ev = json.load(open(eval_path))
bad = 0
for label, ls in lists.items():
    ild, ildf, arp, tail = [], [], [], []
    exposure = np.zeros(n)
    for L in ls:
        L = np.array(L, int)
        if len(L) == 0:
            continue
        arp.append(pop[L].mean())
        tail.append((~head[L]).mean())
        exposure[L] += 1
        if len(L) >= 2:
            iu = np.triu_indices(len(L), 1)
            ild.append((1 - C[np.ix_(L, L)][iu]).mean())
            ildf.append((1 - CF[np.ix_(L, L)][iu]).mean())
    x = np.sort(exposure)
    i = np.arange(1, n + 1)
    gini = ((2 * i - n - 1) * x).sum() / (n * x.sum())
    ref = {"ild": np.mean(ild), "ild_factors": np.mean(ildf), "arp": np.mean(arp),
           "long_tail": np.mean(tail), "coverage": (exposure > 0).sum() / n, "gini": gini}
    for key, want in ref.items():
        got = ev[label][key]
        ok = abs(got - want) <= 1e-4 * max(1.0, abs(want))
        print("%-10s %-12s eval %.6f numpy %.6f %s" % (label, key, got, want, "ok" if ok else "MISMATCH"))
        bad += not ok
sys.exit(1 if bad else 0)
