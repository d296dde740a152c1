#!/usr/bin/python3
"""Reference: exact implicit ALS (Hu, Koren & Volinsky 2008) in numpy, scored
with NDCG@10 as shared/datasets/README.md defines it. Used by
bench/als_quality.sh as an independent implementation to compare
`encore-train als` against (quality and time, same machine, same run).

The `implicit` library itself is not packaged for Debian 12
(python3-implicit does not exist there), so it cannot be run here.

usage: als_numpy_ref.py TRAIN TEST [factors reg alpha iterations reg_exponent seed]
prints one JSON line: {"ndcg": .., "users": .., "fit_seconds": ..}
"""
import json
import sys
import time

import numpy as np


def key(s):
    return (0, int(s), s) if s.isdigit() else (1, 0, s)


def read(path):
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                u, i = line.split("\t")[:2]
                pairs.append((u, i))
    return pairs


def main():
    train, test = read(sys.argv[1]), read(sys.argv[2])
    a = sys.argv[3:]
    factors = int(a[0]) if len(a) > 0 else 128
    reg = float(a[1]) if len(a) > 1 else 25.0
    alpha = float(a[2]) if len(a) > 2 else 4.0
    iters = int(a[3]) if len(a) > 3 else 10
    rexp = float(a[4]) if len(a) > 4 else 0.5
    seed = int(a[5]) if len(a) > 5 else 0
    users = sorted({u for u, _ in train}, key=key)
    items = sorted({i for _, i in train}, key=key)
    uix = {u: k for k, u in enumerate(users)}
    iix = {i: k for k, i in enumerate(items)}
    P = np.zeros((len(users), len(items)), dtype=np.float64)
    for u, i in train:
        P[uix[u], iix[i]] = 1.0
    rng = np.random.default_rng(seed)
    X = rng.random((len(users), factors)) * 0.01
    Y = rng.random((len(items), factors)) * 0.01

    def solve(M, Yf):
        # rows of M against fixed factors Yf: (YtY + Yt(Cu - I)Y + reg_u I) x = Yt Cu p
        YtY = Yf.T @ Yf
        n = M.sum(axis=1)
        mean = n.mean()
        out = np.empty((M.shape[0], factors))
        for r in range(M.shape[0]):
            idx = np.nonzero(M[r])[0]
            Yr = Yf[idx]
            reg_r = reg * (max(n[r], 1) / mean) ** rexp
            A = YtY + alpha * (Yr.T @ Yr) + reg_r * np.eye(factors)
            b = (1 + alpha) * Yr.sum(axis=0)
            out[r] = np.linalg.solve(A, b)
        return out

    t0 = time.perf_counter()
    for _ in range(iters):
        X = solve(P, Y)
        Y = solve(P.T, X)
    fit = time.perf_counter() - t0

    tests = {}
    for u, i in test:
        tests.setdefault(u, set()).add(i)
    disc = 1.0 / np.log2(np.arange(2, 12))
    pop = P.sum(axis=0)
    total, n_users = 0.0, 0
    for u, t in tests.items():
        if u in uix:
            s = X[uix[u]] @ Y.T
            s[P[uix[u]] > 0] = -np.inf
        else:
            s = pop.copy()
        # best first, ties to the lower item row (= lower id)
        order = np.lexsort((np.arange(len(items)), -s))[:10]
        hits = np.array([items[k] in t for k in order], dtype=float)
        ideal = disc[: min(10, len(t))].sum()
        total += (hits * disc[: len(hits)]).sum() / ideal
        n_users += 1
    print(json.dumps({"ndcg": round(total / n_users, 6), "users": n_users,
                      "fit_seconds": round(fit, 3)}))


if __name__ == "__main__":
    main()
