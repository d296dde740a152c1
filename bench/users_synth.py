#!/usr/bin/python3
"""users_synth.py - factor tables for a model with a very large user base
(10M users and more), written in chunks so memory stays small; the inputs of
`encore-train import` for bench/big_users.sh.

    users_synth.py --users U --items I --out DIR [--factors F] [--components K]
                   [--chunk N] [--seed S]

Writes DIR/user_factors.npy (float32 [U, F], filled chunk by chunk through a
memory-mapped .npy), DIR/item_factors.npy, DIR/user_ids.txt (u0..) and
DIR/item_ids.txt (i0..). Rows come from one random mixture of K clusters
with log-normal norms (catalog_synth.py's random_mixture, the same centres
for users and items), so scores have a spread like real factors. Nothing is
trained: this measures loading and serving, not quality. numpy only
(/usr/bin/python3); about 2 x chunk x F x 8 bytes of memory.
"""
import argparse
import os
import sys

import numpy as np


def mixture(centers, n, rng):
    k, d = centers.shape
    x = (centers[rng.integers(0, k, n)] + rng.standard_normal((n, d)) * 0.6).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x *= rng.lognormal(0.0, 0.6, n)[:, None].astype(np.float32)
    return x


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, required=True)
    ap.add_argument("--items", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--components", type=int, default=16)
    ap.add_argument("--chunk", type=int, default=500000)
    ap.add_argument("--seed", type=int, default=17)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out, exist_ok=True)
    centers = rng.standard_normal((a.components, a.factors))
    np.save(os.path.join(a.out, "item_factors.npy"), mixture(centers, a.items, rng))
    U = np.lib.format.open_memmap(
        os.path.join(a.out, "user_factors.npy"), mode="w+", dtype=np.float32,
        shape=(a.users, a.factors))
    with open(os.path.join(a.out, "user_ids.txt"), "w") as f:
        for s in range(0, a.users, a.chunk):
            n = min(a.chunk, a.users - s)
            U[s : s + n] = mixture(centers, n, rng)
            f.write("".join("u%d\n" % i for i in range(s, s + n)))
    U.flush()
    del U
    with open(os.path.join(a.out, "item_ids.txt"), "w") as f:
        f.write("".join("i%d\n" % i for i in range(a.items)))
    print("users_synth: %d users, %d items, %d factors" % (a.users, a.items, a.factors),
          file=sys.stderr)


if __name__ == "__main__":
    main()
