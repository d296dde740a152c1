#!/usr/bin/python3
"""ndcg_paired_ci.py - how sure a change in NDCG@k is: per-user NDCG@k of two
list files written by `encore-train eval --lists` (the baseline and a
variant, same users), recomputed here as rank_eval.c does (binary relevance,
ideal DCG over min(test items, k)), and a paired bootstrap (2,000 resamples
of the users, fixed seed) of the relative change of the mean.

  ndcg_paired_ci.py TEST.tsv BASE_LISTS VARIANT_LISTS [K]
prints JSON: {"users", "base", "variant", "rel", "rel_lo", "rel_hi"} (the
relative change and its 95% percentile interval)."""
import json
import math
import sys

import numpy as np


def lists(path):
    out = {}
    for line in open(path):
        who, user, items = line.rstrip("\n").split("\t")
        if who == "model":
            out[user] = items.split(",") if items else []
    return out


def main():
    test_path, base_path, var_path = sys.argv[1:4]
    k = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    test = {}
    for line in open(test_path):
        f = line.rstrip("\n").split("\t")
        test.setdefault(f[0], set()).add(f[1])
    base, var = lists(base_path), lists(var_path)
    users = sorted(set(base) & set(var) & set(test))

    def ndcg(items, truth):
        dcg = sum(1 / math.log2(r + 2) for r, i in enumerate(items[:k]) if i in truth)
        idcg = sum(1 / math.log2(r + 2) for r in range(min(len(truth), k)))
        return dcg / idcg if idcg else 0.0

    b = np.array([ndcg(base[u], test[u]) for u in users])
    v = np.array([ndcg(var[u], test[u]) for u in users])
    rng = np.random.default_rng(16)
    idx = rng.integers(0, len(users), size=(2000, len(users)))
    rel = v[idx].mean(axis=1) / b[idx].mean(axis=1) - 1
    lo, hi = np.percentile(rel, [2.5, 97.5])
    print(json.dumps({"users": len(users), "base": round(b.mean(), 4), "variant": round(v.mean(), 4),
                      "rel": round(v.mean() / b.mean() - 1, 4), "rel_lo": round(lo, 4),
                      "rel_hi": round(hi, 4)}))


if __name__ == "__main__":
    main()
