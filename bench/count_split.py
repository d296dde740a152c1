#!/usr/bin/python3
"""Split a weighted interaction file (user<TAB>item<TAB>weight, an optional
header line) into train and test by the rule of the shared MovieLens splits
(shared/datasets/README.md): users in ascending id order, each user's items
ascending; a user with n >= 5 items holds out floor(0.2*n + 0.5) of them,
chosen by numpy.random.default_rng(SEED).permutation(n) (the generator is
consumed only by such users). Writes OUT/train.tsv (user, item, weight; the
header kept) and OUT/test.tsv (user, item). Used by bench/owndata_bench.sh on
`encore-train demo-data --counts`.

usage: count_split.py FILE OUT_DIR [SEED]
"""
import os
import sys

import numpy as np


def key(s):
    return (0, int(s), s) if s.isdigit() else (1, 0, s)


def main():
    src, out = sys.argv[1], sys.argv[2]
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 42
    users, header = {}, None
    with open(src, encoding="utf-8") as f:
        for n, line in enumerate(f):
            line = line.rstrip("\n")
            if not line:
                continue
            fields = line.split("\t")
            if n == 0 and not fields[-1].replace(".", "").isdigit():
                header = line
                continue
            u, i, w = fields[0], fields[1], float(fields[2])
            users.setdefault(u, {})
            users[u][i] = users[u].get(i, 0.0) + w
    rng = np.random.default_rng(seed)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "train.tsv"), "w") as tr, \
         open(os.path.join(out, "test.tsv"), "w") as te:
        if header:
            tr.write(header + "\n")
        for u in sorted(users, key=key):
            items = sorted(users[u], key=key)
            held = set()
            if len(items) >= 5:
                n_test = int(np.floor(0.2 * len(items) + 0.5))
                held = set(rng.permutation(len(items))[:n_test].tolist())
            for k, i in enumerate(items):
                if k in held:
                    te.write(f"{u}\t{i}\n")
                else:
                    tr.write(f"{u}\t{i}\t{users[u][i]:g}\n")


if __name__ == "__main__":
    main()
