#!/usr/bin/python3
"""cnn_torch.py - the PyTorch reference for encore-train cnn (bench/cnn_bench.sh).

Same data, architecture, optimiser and batch as the C trainer:
  default  Conv2d(1, 32, 3) -> ReLU -> Flatten -> Linear(21632, 10), softmax CE
  deep     conv32k3,relu,pool2,conv64k3,relu,pool2,dense128,relu,dense10
Adam lr 0.001, batch 128, inputs scaled to [0, 1] (PyTorch's usual ToTensor),
torch.set_num_threads(THREADS). Prints per-epoch lines on stderr and one JSON
line on stdout: test accuracy, training seconds per epoch, single-image
latency (ms, in-process, eval mode, no_grad) and batch-1000 throughput.

usage: cnn_torch.py DATA_DIR [--arch default|deep] [--epochs N] [--threads N]
                    [--seed N] [--limit N]
"""
import argparse
import gzip
import json
import sys
import time

import numpy as np
import torch
import torch.nn as nn


def read_idx(path):
    with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
        data = f.read()
    nd = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def build(arch):
    if arch == "default":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Flatten(), nn.Linear(32 * 26 * 26, 10))
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10))


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
    ap.add_argument("--arch", default="default", choices=["default", "deep"])
    ap.add_argument("--epochs", type=int, default=5, help="0: timings of the untrained net only")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training images")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    d = a.data.rstrip("/")
    xtr = read_idx(d + "/train-images-idx3-ubyte.gz")
    ytr = read_idx(d + "/train-labels-idx1-ubyte.gz")
    xte = read_idx(d + "/t10k-images-idx3-ubyte.gz")
    yte = read_idx(d + "/t10k-labels-idx1-ubyte.gz")
    if a.limit:
        xtr, ytr = xtr[:a.limit], ytr[:a.limit]
    xtr = torch.from_numpy(xtr.astype(np.float32) / 255.0).unsqueeze(1)
    xte = torch.from_numpy(xte.astype(np.float32) / 255.0).unsqueeze(1)
    ytr = torch.from_numpy(ytr.astype(np.int64))
    yte = torch.from_numpy(yte.astype(np.int64))
    model = build(a.arch)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
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
            opt.zero_grad()
            out = model(xb)
            loss = lossf(out, yb)
            loss.backward()
            opt.step()
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
        "impl": "pytorch " + torch.__version__, "arch": a.arch, "epochs": a.epochs,
        "threads": a.threads, "test_accuracy": acc,
        "seconds_per_epoch": sum(epoch_s) / len(epoch_s) if epoch_s else None,
        "epoch_seconds": epoch_s,
        "cpu_seconds_per_epoch": sum(epoch_cpu) / len(epoch_cpu) if epoch_cpu else None,
        "latency_ms_mean": sum(lat) / len(lat), "latency_ms_median": lat[len(lat) // 2],
        "batch_images_per_second": len(b) / best}))


if __name__ == "__main__":
    main()
