#!/usr/bin/python3
"""model_format_reader.py - docs/model-format.md's numpy-only reader, used by
tests/e2e_model_format.sh: prints the top-k items of a user from a model file,
computed from the raw tensors the way the server does (seen items excluded,
ties to the lower item row).   Usage: model_format_reader.py FILE USER K"""
import hashlib, json, struct, sys
import numpy as np

DT = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8", "U8": "u1", "U32": "<u4", "I8": "i1"}


def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    t = {k: np.frombuffer(raw, DT[v["dtype"]], offset=8 + n + v["data_offsets"][0],
                          count=int(np.prod(v["shape"]))).reshape(v["shape"]) for k, v in header.items()}
    assert hashlib.sha256(raw[8 + n:]).hexdigest() == meta["data_sha256"], "checksum"
    return t, meta


def strings(t, name):
    b, o = t[name + ".bytes"].tobytes(), t[name + ".offsets"]
    return [b[o[i]:o[i + 1]].decode("utf-8", "replace") for i in range(len(o) - 1)]


t, meta = load(sys.argv[1])
assert meta["format"] == "encore" and meta["family"] == "mf"
users, items = strings(t, "user_ids"), strings(t, "item_ids")
u = users.index(sys.argv[2])
k = int(sys.argv[3])
scores = t["item_factors"] @ t["user_factors"][u]
seen = t["seen.items"][t["seen.offsets"][u]:t["seen.offsets"][u + 1]]
scores[seen] = -np.inf
order = np.lexsort((np.arange(len(scores)), -scores))[:k]
print(" ".join(items[i] for i in order))
