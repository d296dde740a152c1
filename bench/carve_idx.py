#!/usr/bin/python3
"""carve_idx.py - split an IDX training set into a training part and a validation part.

Used to choose a recipe for encore-train cnn without looking at the test set:

  bench/carve_idx.py DATA_DIR OUT_DIR [--val N]

reads DATA_DIR/train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz and
writes OUT_DIR/{fit,val}-{images-idx3,labels-idx1}-ubyte.gz: the first
(n - N) examples as "fit", the last N (default 10000) as "val". The files are
written to OUT_DIR (e.g. /tmp), never into the repository.
"""
import argparse
import gzip
import os
import struct
import sys


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] or data[1] or data[2] != 8:
        sys.exit(f"carve_idx.py: {path}: not an unsigned-byte IDX file")
    nd = data[3]
    dims = list(struct.unpack(">%dI" % nd, data[4:4 + 4 * nd]))
    body = data[4 + 4 * nd:]
    per = 1
    for d in dims[1:]:
        per *= d
    if len(body) != dims[0] * per:
        sys.exit(f"carve_idx.py: {path}: {len(body)} data bytes, header says {dims[0] * per}")
    return dims, per, body


def write_idx(path, dims, body):
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(bytes([0, 0, 8, len(dims)]) + struct.pack(">%dI" % len(dims), *dims) + body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--val", type=int, default=10000, help="examples held out at the end")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for kind, idx in (("images", "idx3"), ("labels", "idx1")):
        dims, per, body = read_idx(f"{a.data}/train-{kind}-{idx}-ubyte.gz")
        n = dims[0]
        if not 0 < a.val < n:
            sys.exit(f"carve_idx.py: --val must be 1..{n - 1}")
        cut = n - a.val
        write_idx(f"{a.out}/fit-{kind}-{idx}-ubyte.gz", [cut] + dims[1:], body[:cut * per])
        write_idx(f"{a.out}/val-{kind}-{idx}-ubyte.gz", [a.val] + dims[1:], body[cut * per:])
        print(f"{kind}: {cut} fit, {a.val} val", file=sys.stderr)


if __name__ == "__main__":
    main()
