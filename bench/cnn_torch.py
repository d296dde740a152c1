#!/usr/bin/python3
"""cnn_torch.py - the PyTorch reference for encore-train cnn (bench/cnn_bench.sh).

Same data, architecture, optimiser and batch as the C trainer:
  default  Conv2d(1, 32, 3) -> ReLU -> Flatten -> Linear(21632, 10), softmax CE
  deep     conv32k3,relu,pool2,conv64k3,relu,pool2,dense128,relu,dense10
  or any encore arch spec (conv32k3same, relu, pool2, flatten, dense128,
  dropout0.25, bn, ...), built layer for layer as nn.Sequential (bn:
  BatchNorm2d on images, BatchNorm1d after flatten / dense; PyTorch's
  defaults eps 1e-5, momentum 0.1, as encore's).
Adam lr 0.001, batch 128, inputs scaled to [0, 1] (PyTorch's usual ToTensor),
torch.set_num_threads(THREADS). Options to train the way encore-train's
defaults do: --standardize (mean 0, std 1 over the training pixels), --cosine
(lr * (1 + cos(pi * step / steps)) / 2 per step), --augment flip,shiftN (the
same augmentation as encore-train cnn --augment: each training image mirrored
left-right with p = 1/2, moved by -N..N pixels each way with background fill;
the random draws come from torch's generator, not encore's).
Prints per-epoch lines on stderr and one JSON line on stdout: test accuracy,
training seconds per epoch, single-image latency (ms, in-process, eval mode,
no_grad) and batch-1000 throughput.

usage: cnn_torch.py DATA_DIR [--arch default|deep|SPEC] [--epochs N] [--threads N]
                    [--seed N] [--limit N] [--standardize] [--cosine]
                    [--augment flip,shiftN] [--test-prefix t10k|val --train-prefix train|fit]
"""
import argparse
import gzip
import json
import sys
import time

import re

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
        data = f.read()
    nd = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


SPECS = {
    "default": "conv32k3,relu,flatten,dense10",
    "deep": "conv32k3,relu,pool2,conv64k3,relu,pool2,dense128,relu,dense10",
}


def build(arch, h=28, w=28):
    """nn.Sequential for an encore arch spec (see models/cnn/cnn.h)."""
    layers, c, flat = [], 1, False
    for item in SPECS.get(arch, arch).split(","):
        m = re.fullmatch(r"conv(\d+)k(\d+)(same)?", item)
        if m:
            f, k = int(m[1]), int(m[2])
            pad = (k - 1) // 2 if m[3] else 0
            layers.append(nn.Conv2d(c, f, k, padding=pad))
            c, h, w = f, h + 2 * pad - k + 1, w + 2 * pad - k + 1
        elif item == "relu":
            layers.append(nn.ReLU())
        elif item == "pool2":
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        elif item == "flatten":
            if not flat:
                layers.append(nn.Flatten())
                c, h, w, flat = c * h * w, 1, 1, True
        elif item == "bn":   # per channel on images, per feature once flat (as encore)
            layers.append(nn.BatchNorm1d(c) if flat else nn.BatchNorm2d(c))
        elif item.startswith("dropout"):
            layers.append(nn.Dropout(float(item[7:])))
        elif item.startswith("dense"):
            if not flat:
                layers.append(nn.Flatten())
                c, h, w, flat = c * h * w, 1, 1, True
            layers.append(nn.Linear(c, int(item[5:])))
            c = int(item[5:])
        else:
            sys.exit(f"cnn_torch.py: unknown arch item {item!r}")
    return nn.Sequential(*layers)


def augment(xb, flip, shift, bg, g):
    """Mirror (p = 1/2) and move by -shift..shift pixels each way, background bg."""
    if flip:
        m = torch.rand(len(xb), generator=g) < 0.5
        xb = torch.where(m[:, None, None, None], xb.flip(-1), xb)
    if shift:
        n, _, h, w = xb.shape
        p = F.pad(xb, (shift, shift, shift, shift), value=bg)
        off = torch.randint(0, 2 * shift + 1, (n, 2), generator=g).tolist()
        xb = torch.stack([p[i, :, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(off)])
    return xb


def accuracy(model, x, y):
    model.eval()
    hit = 0
    with torch.no_grad():
        for s in range(0, len(x), 1000):
            hit += (model(x[s:s + 1000]).argmax(1) == y[s:s + 1000]).sum().item()
    return hit / len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--arch", default="default", help="default, deep or an encore arch spec")
    ap.add_argument("--epochs", type=int, default=5, help="0: timings of the untrained net only")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training images")
    ap.add_argument("--standardize", action="store_true", help="mean 0, std 1 (training pixels)")
    ap.add_argument("--cosine", action="store_true", help="cosine decay of lr to 0 over the run")
    ap.add_argument("--augment", default="none", help="none, or a comma list of flip, shiftN")
    ap.add_argument("--train-prefix", default="train")
    ap.add_argument("--test-prefix", default="t10k")
    a = ap.parse_args()
    flip = "flip" in a.augment.split(",")
    shift = max([int(t[5:]) for t in a.augment.split(",") if t.startswith("shift")] or [0])
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    d = a.data.rstrip("/")
    xtr = read_idx(f"{d}/{a.train_prefix}-images-idx3-ubyte.gz")
    ytr = read_idx(f"{d}/{a.train_prefix}-labels-idx1-ubyte.gz")
    xte = read_idx(f"{d}/{a.test_prefix}-images-idx3-ubyte.gz")
    yte = read_idx(f"{d}/{a.test_prefix}-labels-idx1-ubyte.gz")
    if a.limit:
        xtr, ytr = xtr[:a.limit], ytr[:a.limit]
    mean, sd = 0.0, 1.0
    if a.standardize:
        v = xtr.astype(np.float64) / 255.0
        mean, sd = float(v.mean()), float(v.std())
    xtr = torch.from_numpy(((xtr.astype(np.float32) / 255.0 - mean) / sd).astype(np.float32)).unsqueeze(1)
    xte = torch.from_numpy(((xte.astype(np.float32) / 255.0 - mean) / sd).astype(np.float32)).unsqueeze(1)
    bg = -mean / sd   # a 0 pixel after scaling
    ytr = torch.from_numpy(ytr.astype(np.int64))
    yte = torch.from_numpy(yte.astype(np.int64))
    model = build(a.arch, xtr.shape[2], xtr.shape[3])
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    steps = a.epochs * ((len(xtr) + a.batch - 1) // a.batch)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + np.cos(np.pi * s / steps)) if a.cosine else 1.0)
    lossf = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(a.seed)
    epoch_s, epoch_cpu = [], []
    acc = 0.0
    for ep in range(a.epochs):
        model.train()
        t0, c0 = time.perf_counter(), time.process_time()
        perm = torch.randperm(len(xtr), generator=g)
        tot, hit = 0.0, 0
        for s in range(0, len(xtr), a.batch):
            idx = perm[s:s + a.batch]
            xb, yb = xtr[idx], ytr[idx]
            if flip or shift:
                xb = augment(xb, flip, shift, bg, g)
            opt.zero_grad()
            out = model(xb)
            loss = lossf(out, yb)
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
            hit += (out.argmax(1) == yb).sum().item()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        epoch_s.append(dt)
        epoch_cpu.append(dc)
        acc = accuracy(model, xte, yte)
        print(f"torch epoch {ep + 1}/{a.epochs}: loss {tot / len(xtr):.4f}  train_acc "
              f"{hit / len(xtr):.4f}  test_acc {acc:.4f}  train_seconds {dt:.2f}  "
              f"train_cpu_seconds {dc:.2f}",
              file=sys.stderr, flush=True)
    # in-process latency (one image) and batch-1000 throughput
    model.eval()
    with torch.no_grad():
        one = xte[:1]
        for _ in range(50):
            model(one)
        lat = []
        for i in range(2000):
            x1 = xte[i % len(xte):i % len(xte) + 1]
            t = time.perf_counter()
            torch.softmax(model(x1), 1)
            lat.append((time.perf_counter() - t) * 1e3)
        lat.sort()
        b = xte[:1000]
        best = 1e30
        for r in range(6):
            t = time.perf_counter()
            torch.softmax(model(b), 1)
            t = time.perf_counter() - t
            if r and t < best:
                best = t
    print(json.dumps({
        "impl": "pytorch " + torch.__version__, "arch": SPECS.get(a.arch, a.arch),
        "epochs": a.epochs, "standardize": a.standardize, "cosine": a.cosine,
        "augment": a.augment,
        "threads": a.threads, "test_accuracy": acc,
        "seconds_per_epoch": sum(epoch_s) / len(epoch_s) if epoch_s else None,
        "epoch_seconds": epoch_s,
        "cpu_seconds_per_epoch": sum(epoch_cpu) / len(epoch_cpu) if epoch_cpu else None,
        "latency_ms_mean": sum(lat) / len(lat), "latency_ms_median": lat[len(lat) // 2],
        "batch_images_per_second": len(b) / best}))


if __name__ == "__main__":
    main()
