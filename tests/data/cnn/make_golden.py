#!/usr/bin/python3
"""make_golden.py - writes the golden CNN model and its expected output.

Run once (already done; the outputs are checked in):
    /usr/bin/python3 tests/data/cnn/make_golden.py tests/data/cnn/golden

It builds a tiny network with every inference layer,
    conv2k3same,relu,pool2,conv3k3,relu,flatten,dense4,relu,dropout0.5,dense3
for 8 x 8 x 1 images, with weights drawn by numpy (seed 1234), writes it as an
Encore safetensors file by hand (independently of the C writer), and computes
the class probabilities of two fixed images with a plain numpy forward pass
written here from the layer definitions (NHWC, conv weights [F, k, k, C], dense
weights [units, inputs] over the (row, column, channel) flattening; dropout is
the identity at inference). tests/test_cnn.c loads model.safetensors through
the family loader, runs cnn_predict on input.txt and compares with
expected.txt, so the C forward pass is checked against an implementation that
shares no code with it.

Files: model.safetensors, input.txt (2 x 64 pixel values 0..255),
expected.txt (2 x 3 probabilities, %.9g).
"""
import hashlib
import json
import struct
import sys

import numpy as np

ARCH = "conv2k3same,relu,pool2,conv3k3,relu,flatten,dense4,relu,dropout0.5,dense3"
SCALE, OFFSET = 1.0 / 255.0, -0.5


def conv(x, w, b, pad):
    f, k, _, c = w.shape
    if pad:
        x = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    h, wd = x.shape[0] - k + 1, x.shape[1] - k + 1
    y = np.zeros((h, wd, f))
    for oy in range(h):
        for ox in range(wd):
            patch = x[oy:oy + k, ox:ox + k, :]
            for o in range(f):
                y[oy, ox, o] = np.sum(patch * w[o]) + b[o]
    return y


def pool(x):
    h, w = x.shape[0] // 2, x.shape[1] // 2
    return x[:2 * h, :2 * w].reshape(h, 2, w, 2, -1).max(axis=(1, 3))


def forward(img, p):
    x = img.reshape(8, 8, 1) * SCALE + OFFSET
    x = np.maximum(conv(x, p["layers.0.weight"], p["layers.0.bias"], 1), 0)
    x = pool(x)
    x = np.maximum(conv(x, p["layers.3.weight"], p["layers.3.bias"], 0), 0)
    x = x.reshape(-1)
    x = np.maximum(p["layers.6.weight"] @ x + p["layers.6.bias"], 0)
    z = p["layers.9.weight"] @ x + p["layers.9.bias"]
    e = np.exp(z - z.max())
    return e / e.sum()


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(1234)
    shapes = {"layers.0.weight": (2, 3, 3, 1), "layers.0.bias": (2,),
              "layers.3.weight": (3, 3, 3, 2), "layers.3.bias": (3,),
              "layers.6.weight": (4, 12), "layers.6.bias": (4,),
              "layers.9.weight": (3, 4), "layers.9.bias": (3,)}
    p = {k: rng.normal(0, 0.4, s).astype(np.float32) for k, s in shapes.items()}
    names = [b"zero", b"one", b"two"]
    tensors = [(k, "F32", list(v.shape), v.tobytes()) for k, v in sorted(p.items())]
    offs = np.cumsum([0] + [len(n) for n in names]).astype(np.int64)
    # largest dtype first (I64, then F32, then U8) keeps every tensor aligned
    tensors = [("class_names.offsets", "I64", [4], offs.tobytes())] + tensors + \
              [("class_names.bytes", "U8", [len(b"".join(names))], b"".join(names))]
    data, hdr, pos = b"", {}, 0
    for name, dt, shape, raw in tensors:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [pos, pos + len(raw)]}
        data += raw
        pos += len(raw)
    hdr["__metadata__"] = {
        "format": "encore", "format_version": "1", "family": "cnn",
        "created": "2026-11-27T00:00:00Z", "trainer": "tests/data/cnn/make_golden.py",
        "arch": ARCH, "input_height": "8", "input_width": "8", "input_channels": "1",
        "input_max": "255", "input_scale": repr(SCALE), "input_offset": repr(OFFSET),
        "data_sha256": hashlib.sha256(data).hexdigest()}
    text = json.dumps(hdr, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(out + "/model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    imgs = rng.integers(0, 256, (2, 64))
    with open(out + "/input.txt", "w") as f:
        for im in imgs:
            f.write(" ".join(str(v) for v in im) + "\n")
    pd = {k: v.astype(np.float64) for k, v in p.items()}
    with open(out + "/expected.txt", "w") as f:
        for im in imgs:
            f.write(" ".join("%.9g" % v for v in forward(im.astype(np.float64), pd)) + "\n")


if __name__ == "__main__":
    main()
