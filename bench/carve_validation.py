#!/usr/bin/python3
"""Carve a validation split out of a train.tsv (user<TAB>item, sorted by user
then item), with the protocol the shared splits use for test.tsv: users in
ascending id order, each user's items ascending; a user with n >= 5 items
holds out floor(0.2*n + 0.5) of them, chosen by
numpy.random.default_rng(SEED).permutation(n) (the generator is consumed
only by such users). Writes OUT/fit.tsv and OUT/valid.tsv.

Hyperparameters are chosen on fit.tsv -> valid.tsv, never on test.tsv.

usage: carve_validation.py TRAIN_TSV OUT_DIR [SEED]
"""
import os
import sys
from collections import OrderedDict

import numpy as np


def key(s):
    return (0, int(s), s) if s.isdigit() else (1, 0, s)


def main():
    src, out = sys.argv[1], sys.argv[2]
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    users = OrderedDict()
    with open(src, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            u, i = line.split("\t")[:2]
            users.setdefault(u, []).append(i)
    rng = np.random.default_rng(seed)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "fit.tsv"), "w") as fit, \
         open(os.path.join(out, "valid.tsv"), "w") as val:
        for u in sorted(users, key=key):
            items = sorted(set(users[u]), key=key)
            n = len(items)
            held = set()
            if n >= 5:
                n_test = int(np.floor(0.2 * n + 0.5))
                held = set(rng.permutation(n)[:n_test].tolist())
            for k, i in enumerate(items):
                (val if k in held else fit).write(f"{u}\t{i}\n")


if __name__ == "__main__":
    main()
