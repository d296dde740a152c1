#!/usr/bin/python3
"""als_synth.py - synthetic implicit-feedback interactions at any scale, for
the ALS scaling benchmark (bench/als_scale.sh); no download, numpy only.

    als_synth.py --users U --items I --interactions N --out FILE [--seed S]
                 [--clusters K]

Writes FILE as user<TAB>item<TAB>weight lines (encore-train als --format tsv),
ids u<row> and i<row>. The data has the structure ALS is for: items belong
to one of K taste clusters and have a Zipf-like popularity (exponent 0.8)
within the catalogue; each user has a favourite cluster and a log-normal
activity (sigma 1, every user at least one interaction); 70% of a user's
picks come from the favourite cluster (by popularity inside it), 30% from
the whole catalogue by popularity. 15% more picks than N are drawn,
repeated (user, item) pairs merged, and N of the distinct pairs kept at
random, so the file has exactly N lines (fewer only if repeats ate more
than the 15%; the count goes to stderr).
Weights are 1-3. Same seed, same bytes. Memory: about 40 bytes per
interaction (20M: under 1 GB).
"""
import argparse
import sys

import numpy as np


def zipf_cdf(n, s):
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** s
    c = np.cumsum(w)
    return c / c[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, required=True)
    ap.add_argument("--items", type=int, required=True)
    ap.add_argument("--interactions", type=int, required=True)
    ap.add_argument("--clusters", type=int, default=50)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    U, I, N, K = a.users, a.items, a.interactions, a.clusters
    if U < 1 or I < K or N < U:
        sys.exit("als_synth.py: need users >= 1, items >= clusters, interactions >= users")
    rng = np.random.default_rng(a.seed)

    # items: a popularity rank (Zipf) and a cluster each
    item_rank = rng.permutation(I)  # item at popularity rank r is item_rank[r]
    item_cluster = rng.integers(0, K, I)
    global_cdf = zipf_cdf(I, 0.8)
    # per cluster: its items in popularity order and their Zipf CDF
    order_cluster = item_cluster[item_rank]
    members = [item_rank[order_cluster == k] for k in range(K)]
    cdfs = [zipf_cdf(len(m), 0.8) for m in members]

    # users: activity (log-normal, scaled to N in all, at least 1) and a cluster
    act = rng.lognormal(0.0, 1.0, U)
    cnt = np.maximum(1, np.floor(act / act.sum() * (1.15 * N - U) + 1)).astype(np.int64)
    user_cluster = rng.integers(0, K, U)
    users = np.repeat(np.arange(U, dtype=np.int64), cnt)
    n = users.size
    items = np.empty(n, dtype=np.int64)
    from_cluster = rng.random(n) < 0.7
    g = ~from_cluster
    items[g] = item_rank[np.searchsorted(global_cdf, rng.random(int(g.sum())))]
    uc = user_cluster[users]
    for k in range(K):
        sel = from_cluster & (uc == k)
        m = int(sel.sum())
        if m:
            pick = np.searchsorted(cdfs[k], rng.random(m))
            items[sel] = members[k][np.minimum(pick, len(members[k]) - 1)]
    del uc, from_cluster, g
    key = np.unique(users * I + items)
    if key.size > N:
        key = np.sort(rng.choice(key, N, replace=False))
    del users, items
    users, items = key // I, key % I
    weights = 1 + (rng.random(key.size) < 0.3).astype(np.int64) + (rng.random(key.size) < 0.1)
    with open(a.out, "w") as f:
        step = 1 << 20
        for s in range(0, key.size, step):
            u, i, w = users[s : s + step], items[s : s + step], weights[s : s + step]
            f.write("".join("u%d\ti%d\t%d\n" % t for t in zip(u.tolist(), i.tolist(), w.tolist())))
    print(
        "als_synth: %d users, %d items, %d interactions (%d drawn, repeats merged)"
        % (U, I, key.size, n),
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
