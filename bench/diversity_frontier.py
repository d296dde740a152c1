#!/usr/bin/python3
"""diversity_frontier.py - which re-ranking buys intra-list diversity (ILD)
for the least NDCG@10: a numpy replica of models/mf/diversity.c with the
variants measured for issue #16, run over a grid of diversity values on
several ALS models (seeds) of one split, averaged over the seeds.

  diversity_frontier.py DIR [MODEL ...]
DIR is a bench/diversity_table.sh-style directory (train.tsv, test.tsv,
repo/MODEL/1/model.safetensors written by encore-train als); each MODEL a
name under DIR/repo. DIR/check-<MODEL>.json, when present, is encore-train
eval's output at --diversity 0.2 with the repository's re-ranking: the
replica of that re-ranking ("units") must reproduce its NDCG and
factor ILD to 1e-4, else this exits 1 (it measures nothing then).

Scores are u.v over the training catalogue minus the user's training
items (as eval's), the pool the 2k + 10 best (FRONTIER_POOL=N: the N best;
the check against eval is then skipped), k = 10; FRONTIER_VARIANTS="sum
mean" picks variants. Prints, per variant:
the change from diversity 0 at 0.2, and the NDCG change where ILD first
reaches +10/+20/+30% (linear interpolation along the grid) - comparing
curves at the same ILD, not at the same knob value.
Variants (name: relevance / similarity term):
  mean     s/s_max, mean cosine to those chosen (main before issue #16's mmr change)
  sum      s/s_max, 2/(k'-1) x the sum of cosines (the list objective, absolute terms)
  units    as sum, each term over the model's units R, I (main now: eval's
           "diversity_units"; the same curve as sum, another d for each point)
  mean-mm  min-max over the pool, mean cosine
  sum-mm   min-max over the pool, the sum as above
  mean-z   relevance and cosines standardised within the pool, mean
  sum-resort  as sum, then the k chosen re-sorted by score
  sum-ls   as sum, then 1-swap local search on the same objective (only when
           named in FRONTIER_VARIANTS)
  dpp      greedy MAP of a DPP (Chen et al. 2018): (1-d) rel + d log(conditional variance)
  max      s/s_max, the largest cosine to those chosen (Carbonell & Goldstein's form)
  sum-rel  as sum, with each term over the plain top k's own value for this user
           (mean relevance, ILD): d trades relative relevance for relative ILD
"""
import glob
import json
import math
import os
import struct
import sys

import numpy as np

K = 10
POOL = int(os.environ.get("FRONTIER_POOL", 2 * K + 10))  # the server's reco_rerank_pool(10)


def load(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    h = json.loads(data[8:8 + n])
    base = 8 + n

    def t(name):
        v = h[name]
        a, b = v["data_offsets"]
        dt = {"F32": np.float32, "I64": np.int64, "I32": np.int32, "U8": np.uint8}[v["dtype"]]
        return np.frombuffer(data[base + a:base + b], dtype=dt).reshape(v["shape"])

    def strs(name):
        by, off = t(name + ".bytes").tobytes(), t(name + ".offsets")
        return [by[off[i]:off[i + 1]].decode() for i in range(len(off) - 1)]

    return t("item_factors"), t("user_factors"), strs("item_ids"), strs("user_ids")


def prepare(d, model):
    V, U, iids, uids = load(glob.glob(os.path.join(d, "repo", model, "*", "model.safetensors"))[0])
    irow = {x: i for i, x in enumerate(iids)}
    urow = {x: i for i, x in enumerate(uids)}
    train, order = {}, {}
    pop = np.zeros(len(iids))
    for line in open(os.path.join(d, "train.tsv")):
        u, i = line.rstrip("\n").split("\t")[:2]
        train.setdefault(u, set()).add(irow[i])
        pop[irow[i]] += 1
        order.setdefault(irow[i], len(order))
    test = {}
    for line in open(os.path.join(d, "test.tsv")):
        u, i = line.rstrip("\n").split("\t")[:2]
        test.setdefault(u, set()).add(i)
    n = len(iids)
    rank = sorted(range(n), key=lambda r: (-pop[r], order.get(r, 1e9)))
    head = np.zeros(n, bool)
    head[rank[:(n * 2 + 9) // 10]] = True
    Vn = V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-30)
    users = [u for u in test if u in urow and u in train]
    S = U[[urow[u] for u in users]] @ V.T
    pools = []
    for j, u in enumerate(users):
        S[j, list(train[u])] = -np.inf
        top = np.argpartition(-S[j], POOL)[:POOL]
        pools.append(top[np.argsort(-S[j][top], kind="stable")])
    truth = [{irow[i] for i in test[u] if i in irow} for u in users]
    return dict(Vn=Vn.astype(np.float64), S=S, head=head, truth=truth,
                ntruth=[len(test[u]) for u in users], pools=pools)


DISC = 1 / np.log2(np.arange(2, K + 2))


def measure(P, lists):
    nd, ild, tail = [], [], []
    for j, L in enumerate(lists):
        dcg = sum(DISC[r] for r, i in enumerate(L) if i in P["truth"][j])
        idcg = DISC[:min(P["ntruth"][j], K)].sum()
        nd.append(dcg / idcg if idcg else 0)
        X = P["Vn"][L]
        m = len(L)
        ild.append((m * m - (X @ X.T).sum()) / (m * (m - 1)))
        tail.append(np.mean(~P["head"][L]))
    return np.mean(nd), np.mean(ild), np.mean(tail)


def rerank(s, Vn, d, variant, units=(1.0, 1.0)):
    n = len(s)
    k = min(K, n)
    hi, lo = s.max(), s.min()
    if variant.endswith("-mm"):
        rel = (s - lo) / (hi - lo) if hi > lo else np.ones(n)
    elif variant == "mean-z":
        rel = (s - s.mean()) / (s.std() + 1e-12)
    else:
        rel = s / hi if hi > 0 else ((s - lo) / (hi - lo) if hi > lo else np.ones(n))
    C = Vn @ Vn.T
    taken = np.zeros(n, bool)
    out = []
    if variant == "dpp":
        Ce = C + 1e-3 * np.eye(n)
        cv = np.zeros((k, n))
        dj2 = np.diag(Ce).copy()
        for c in range(k):
            v = (1 - d) * rel + d * np.log(np.maximum(dj2, 1e-12))
            v[taken] = -np.inf
            b = int(np.argmax(v))
            taken[b] = True
            out.append(b)
            e = (Ce[b] - cv[:c].T @ cv[:c, b]) / math.sqrt(max(dj2[b], 1e-12))
            cv[c] = e
            dj2 = dj2 - e * e
        return out
    if variant == "mean-z":
        off = C[~np.eye(n, dtype=bool)]
        C = (C - off.mean()) / (off.std() + 1e-12)
    if variant == "sum-rel":
        # the top k by score (the answer at d = 0): its mean relevance and ILD
        rel0 = max(rel[:k].mean(), 1e-6)
        ild0 = max((k * k - C[:k, :k].sum()) / (k * (k - 1)), 1e-3) if k > 1 else 1.0
    sums = np.zeros(n)
    maxs = np.full(n, -np.inf)
    for c in range(k):
        if variant.startswith("max"):
            # Carbonell & Goldstein's own form: the closest chosen item
            pen = d * (maxs if c else np.zeros(n))
        elif variant.startswith("mean"):
            pen = d * (sums / c if c else sums)
        elif variant == "sum-rel":
            # both terms relative to the plain top k's own values
            pen = d / ild0 * 2 / (k - 1) * sums
        elif variant == "units":
            pen = d / units[1] * 2 / (k - 1) * sums
        else:
            pen = d * 2 / (k - 1) * sums
        v = (1 - d) * (rel / rel0 if variant == "sum-rel" else rel / units[0] if variant == "units" else rel) - pen
        v[taken] = -np.inf
        b = int(np.argmax(v))  # the first of equal values: the earlier candidate
        taken[b] = True
        out.append(b)
        sums += C[b]
        maxs = np.maximum(maxs, C[b])
    if variant == "sum-resort":
        out.sort(key=lambda j: -s[j])
    if variant == "sum-ls" and k > 1:
        # after the greedy picks, 1-swap local search on the same objective
        # (each place in turn takes the unchosen item that raises it most), in place
        w = d * 2 / (k - 1)
        for _ in range(3):
            improved = False
            inl = set(out)
            for pos in range(k):
                cur = out[pos]
                others = [x for x in out if x != cur]
                best, bv = None, (1 - d) * rel[cur] - w * C[cur, others].sum() + 1e-9
                for j in range(n):
                    if j in inl:
                        continue
                    v = (1 - d) * rel[j] - w * C[j, others].sum()
                    if v > bv:
                        best, bv = j, v
                if best is not None:
                    inl.discard(cur)
                    inl.add(best)
                    out[pos] = best
                    improved = True
            if not improved:
                break
    return out


def run(P, d, variant):
    lists = []
    for j, top in enumerate(P["pools"]):
        if d == 0:
            lists.append(list(top[:K]))
            continue
        o = rerank(P["S"][j][top].astype(np.float64), P["Vn"][top], d, variant, P["units"])
        lists.append([int(top[i]) for i in o])
    return measure(P, lists)


VARIANTS = os.environ.get("FRONTIER_VARIANTS", "mean sum units mean-mm sum-mm mean-z sum-resort dpp").split()
GRID = [0, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.125, 0.15, 0.175, 0.2, 0.225, 0.25, 0.275,
        0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9, 1.0]


def main():
    d = sys.argv[1]
    models = sys.argv[2:] or ["als"]
    curves = {v: [] for v in VARIANTS}
    for m in models:
        P = prepare(d, m)
        check = os.path.join(d, f"check-{m}.json")
        if os.path.exists(check):
            u = json.load(open(check)).get("diversity_units")
            if u:  # the model's units, as the server and eval weigh d in
                P["units"] = (u["relevance"], u["ild"])
        if "units" not in P and "units" in VARIANTS:
            print(f"{m}: no diversity_units in {check} (eval of an older build?)", file=sys.stderr)
            sys.exit(1)
        P.setdefault("units", (1.0, 1.0))
        if os.path.exists(check) and POOL == 2 * K + 10:
            ref = json.load(open(check))["model"]
            nd, ild, _ = run(P, 0.2, "units" if P["units"] != (1.0, 1.0) else "sum")
            if abs(nd - ref["ndcg"]) > 1e-4 or abs(ild - ref["ild_factors"]) > 1e-4:
                print(f"replica differs from encore-train eval on {m}: ndcg {nd:.6f} vs "
                      f"{ref['ndcg']:.6f}, ild {ild:.6f} vs {ref['ild_factors']:.6f}", file=sys.stderr)
                sys.exit(1)
            print(f"{m}: replica = encore-train eval at 0.2 (ndcg {nd:.4f}, ild {ild:.4f})",
                  file=sys.stderr)
        nd0, ild0, t0 = run(P, 0, "sum")
        for v in VARIANTS:
            curves[v].append([(nd / nd0 - 1, ild / ild0 - 1, t / t0 - 1)
                              for nd, ild, t in (run(P, g, v) for g in GRID)])
    for v in VARIANTS:
        M = np.array(curves[v]).mean(0)  # models x grid x 3 -> grid x 3
        nd, ild, tail = M.T
        i2 = GRID.index(0.2)
        row = [v + (f" (pool {POOL})" if POOL != 2 * K + 10 else ""), f"{100 * nd[i2]:+.1f}% / {100 * ild[i2]:+.1f}% / {100 * tail[i2]:+.1f}%"]
        for target in (0.1, 0.2, 0.3):
            cell = "-"
            for i in range(1, len(GRID)):
                if ild[i - 1] < target <= ild[i]:
                    f = (target - ild[i - 1]) / (ild[i] - ild[i - 1])
                    cell = (f"{100 * (nd[i - 1] + f * (nd[i] - nd[i - 1])):+.1f}% "
                            f"(d {GRID[i - 1] + f * (GRID[i] - GRID[i - 1]):.2f})")
                    break
            row.append(cell)
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
