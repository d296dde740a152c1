#!/usr/bin/python3
"""make_golden.py - writes the golden batch-norm CNN model and its expected outputs.

Run once (already done; the outputs are checked in):
    /usr/bin/python3 tests/data/cnn_bn/make_golden.py tests/data/cnn_bn

A tiny network with bn in both places (per channel after a convolution, per
feature after a dense layer),
    conv2k3same,bn,relu,pool2,dense4,bn,relu,dense3
for 6 x 6 x 1 images, weights and running statistics drawn by numpy (seed 99),
written as an Encore safetensors file by hand (independently of the C
writer). Expected outputs, from a plain numpy forward pass written here from
PyTorch's BatchNorm definitions (NHWC, conv weights [F, k, k, C]):
  expected_eval.txt   class probabilities of the 3 images at inference
                      (running statistics), one image per line
  expected_train.txt  logits of the 3 images as one training batch (batch mean
                      and biased variance, eps 1e-5)
  expected_stats.txt  running_mean, running_var of layer 1, then of layer 5,
                      after one update from that batch (momentum 0.1,
                      unbiased batch variance)
tests/test_cnn_bn.c loads the model through the family loader and compares.
"""
import hashlib
import json
import struct
import sys

import numpy as np

ARCH = "conv2k3same,bn,relu,pool2,dense4,bn,relu,dense3"
SCALE, OFFSET = 1.0 / 255.0, -0.5
EPS, MOM = 1e-5, 0.1


def conv(x, w, b, pad):
    f, k, _, c = w.shape
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    n, h, wd = x.shape[0], x.shape[1] - k + 1, x.shape[2] - k + 1
    y = np.zeros((n, h, wd, f))
    for oy in range(h):
        for ox in range(wd):
            patch = x[:, oy:oy + k, ox:ox + k, :]
            for o in range(f):
                y[:, oy, ox, o] = np.sum(patch * w[o], axis=(1, 2, 3)) + b[o]
    return y


def bn(x, p, i, train, stats):
    g, b = p[f"layers.{i}.weight"], p[f"layers.{i}.bias"]
    axes = tuple(range(x.ndim - 1))   # all but the channel (feature) axis
    if train:
        m, v = x.mean(axis=axes), x.var(axis=axes)
        cnt = x.size // x.shape[-1]
        stats.append((1 - MOM) * p[f"layers.{i}.running_mean"] + MOM * m)
        stats.append((1 - MOM) * p[f"layers.{i}.running_var"] + MOM * v * cnt / (cnt - 1))
    else:
        m, v = p[f"layers.{i}.running_mean"], p[f"layers.{i}.running_var"]
    return (x - m) / np.sqrt(v + EPS) * g + b


def forward(imgs, p, train, stats):
    x = imgs.reshape(-1, 6, 6, 1) * SCALE + OFFSET
    x = conv(x, p["layers.0.weight"], p["layers.0.bias"], 1)
    x = np.maximum(bn(x, p, 1, train, stats), 0)
    n = x.shape[0]
    x = x.reshape(n, 3, 2, 3, 2, 2).max(axis=(2, 4)).reshape(n, -1)   # pool2, (row, col, ch)
    x = x @ p["layers.4.weight"].T + p["layers.4.bias"]
    x = np.maximum(bn(x, p, 5, train, stats), 0)
    return x @ p["layers.7.weight"].T + p["layers.7.bias"]


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(99)
    shapes = {"layers.0.weight": (2, 3, 3, 1), "layers.0.bias": (2,),
              "layers.4.weight": (4, 18), "layers.4.bias": (4,),
              "layers.7.weight": (3, 4), "layers.7.bias": (3,)}
    p = {k: rng.normal(0, 0.5, s).astype(np.float32) for k, s in shapes.items()}
    for i, c in ((1, 2), (5, 4)):
        p[f"layers.{i}.weight"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
        p[f"layers.{i}.bias"] = rng.normal(0, 0.3, c).astype(np.float32)
        p[f"layers.{i}.running_mean"] = rng.normal(0, 0.3, c).astype(np.float32)
        p[f"layers.{i}.running_var"] = rng.uniform(0.2, 2.0, c).astype(np.float32)
    names = [b"zero", b"one", b"two"]
    tensors = [(k, "F32", list(v.shape), v.tobytes()) for k, v in sorted(p.items())]
    offs = np.cumsum([0] + [len(n) for n in names]).astype(np.int64)
    tensors = [("class_names.offsets", "I64", [4], offs.tobytes())] + tensors + \
              [("class_names.bytes", "U8", [len(b"".join(names))], b"".join(names))]
    data, hdr, pos = b"", {}, 0
    for name, dt, shape, raw in tensors:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [pos, pos + len(raw)]}
        data += raw
        pos += len(raw)
    hdr["__metadata__"] = {
        "format": "encore", "format_version": "1", "family": "cnn",
        "created": "2026-11-27T00:00:00Z", "trainer": "tests/data/cnn_bn/make_golden.py",
        "arch": ARCH, "input_height": "6", "input_width": "6", "input_channels": "1",
        "input_max": "255", "input_scale": repr(SCALE), "input_offset": repr(OFFSET),
        "data_sha256": hashlib.sha256(data).hexdigest()}
    text = json.dumps(hdr, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(out + "/model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    imgs = rng.integers(0, 256, (3, 36))
    with open(out + "/input.txt", "w") as f:
        for im in imgs:
            f.write(" ".join(str(v) for v in im) + "\n")
    pd = {k: v.astype(np.float64) for k, v in p.items()}
    x = imgs.astype(np.float64)
    z = forward(x, pd, False, [])
    e = np.exp(z - z.max(axis=1, keepdims=True))
    prob = e / e.sum(axis=1, keepdims=True)
    stats = []
    zt = forward(x, pd, True, stats)
    with open(out + "/expected_eval.txt", "w") as f:
        for row in prob:
            f.write(" ".join("%.9g" % v for v in row) + "\n")
    with open(out + "/expected_train.txt", "w") as f:
        for row in zt:
            f.write(" ".join("%.9g" % v for v in row) + "\n")
    with open(out + "/expected_stats.txt", "w") as f:
        for s in stats:
            f.write(" ".join("%.9g" % v for v in s) + "\n")


if __name__ == "__main__":
    main()
