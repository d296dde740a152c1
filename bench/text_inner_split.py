#!/usr/bin/python3
"""text_inner_split.py - an inner validation split of rt-polarity for choosing
an LSTM setting without touching a test fold.

Drops the examples of one outer fold (--exclude, 0-based as in folds.tsv;
default 0, the "fold 1" of bench/results/text.md) and writes, under --out,
the remaining examples as <out>/rt-polarity.pos / .neg plus an inner
<out>/folds.tsv in which the outer folds listed in --validation become inner
folds 0, 1, ... (in that order) and the other training folds follow. Then
  encore-train text ... --folds <out>/folds.tsv --max-folds N
trains on eight of the nine training folds and validates on each of the
first N --validation folds in turn. The copies go to --out (e.g. /tmp), never
into the repository.

Usage: /usr/bin/python3 bench/text_inner_split.py --pos F --neg F --folds F
           --out DIR [--exclude 0] [--validation 9,8,7]
"""
import argparse
import os


def read_lines(path):
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pos", required=True)
    ap.add_argument("--neg", required=True)
    ap.add_argument("--folds", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--exclude", type=int, default=0)
    ap.add_argument("--validation", default="9,8,7")
    a = ap.parse_args()
    val = [int(v) for v in a.validation.split(",")]
    fold = {}
    with open(a.folds) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) == 3:
                fold[(p[0], int(p[1]))] = int(p[2])
    k = max(fold.values()) + 1
    rest = [f for f in range(k) if f != a.exclude and f not in val]
    inner = {f: i for i, f in enumerate(val + rest)}
    os.makedirs(a.out, exist_ok=True)
    out_folds = []
    for path in (a.pos, a.neg):
        base = os.path.basename(path)
        kept = []
        for i, l in enumerate(read_lines(path)):
            f = fold[(base, i + 1)]
            if f == a.exclude:
                continue
            kept.append(l)
            out_folds.append(f"{base}\t{len(kept)}\t{inner[f]}\n")
        with open(os.path.join(a.out, base), "wb") as g:
            g.write(b"".join(l + b"\n" for l in kept))
    with open(os.path.join(a.out, "folds.tsv"), "w") as g:
        g.writelines(out_folds)
    print(f"{len(out_folds)} examples; inner folds 0..{len(val) - 1} = outer {val}")


if __name__ == "__main__":
    main()
