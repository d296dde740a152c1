#!/usr/bin/python3
"""catalog_synth.py - synthetic factor matrices with the structure of real ALS
factors, for catalogue-scale tests and benchmarks (bench/catalog_scale.sh,
tests/e2e_ann.sh).

    catalog_synth.py --items N --users U --out DIR [--model FILE] [--components K]
                     [--factors F] [--seed S]

With --model (an Encore "mf" model.safetensors, e.g. ALS trained on
MovieLens latest-small), a Gaussian mixture with full covariances is fitted
by EM to its item factors and another to its user factors; N items and U
users are sampled from them, then every row is rescaled so the norms follow
the model's own norm distribution (quantile mapping: the i-th smallest
sampled norm becomes the model's norm at the same quantile). Real factor
tables are clustered (genres, eras) and their norms are very skewed (a few
popular titles have long vectors): both matter to an inner-product index.
Without --model a random mixture of K clusters with log-normal norms stands
in (no data needed; used by the tests).

Writes DIR/item_factors.npy, DIR/user_factors.npy (float32, C order) and
DIR/item_ids.txt, DIR/user_ids.txt (i0.., u0..): the inputs of
`encore-train import`. The users are the queries of the benchmarks.
numpy only (/usr/bin/python3).
"""
import argparse, json, os, struct, sys
import numpy as np


def load_factors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name in ("item_factors", "user_factors"):
        v = header[name]
        assert v["dtype"] == "F32", name
        out[name] = np.frombuffer(raw, "<f4", offset=8 + n + v["data_offsets"][0],
                                  count=int(np.prod(v["shape"]))).reshape(v["shape"]).astype(np.float64)
    return out["item_factors"], out["user_factors"]


def fit_gmm(x, k, rng, iters=60, reg=1e-3):
    """EM for a full-covariance Gaussian mixture; reg (relative to the data's
    mean variance) keeps covariances positive definite with few points."""
    n, d = x.shape
    k = max(1, min(k, n // (2 * d) or 1))
    mu = x[rng.choice(n, k, replace=False)]
    floor = reg * x.var(axis=0).mean()
    cov = np.repeat(np.cov(x.T)[None] + floor * np.eye(d), k, axis=0)
    w = np.full(k, 1.0 / k)
    for _ in range(iters):
        logp = np.empty((n, k))
        for j in range(k):
            c = np.linalg.cholesky(cov[j])
            z = np.linalg.solve(c, (x - mu[j]).T)
            logp[:, j] = (np.log(w[j]) - np.log(np.diag(c)).sum() - 0.5 * (z * z).sum(axis=0)
                          - 0.5 * d * np.log(2 * np.pi))
        m = logp.max(axis=1, keepdims=True)
        r = np.exp(logp - m)
        r /= r.sum(axis=1, keepdims=True)
        nk = r.sum(axis=0) + 1e-9
        w = nk / n
        mu = (r.T @ x) / nk[:, None]
        for j in range(k):
            xc = x - mu[j]
            cov[j] = (r[:, j, None] * xc).T @ xc / nk[j] + floor * np.eye(d)
    return w, mu, cov


def sample_gmm(gmm, n, rng):
    w, mu, cov = gmm
    d = mu.shape[1]
    comp = rng.choice(len(w), n, p=w / w.sum())
    out = np.empty((n, d), np.float32)
    for j in range(len(w)):
        rows = np.flatnonzero(comp == j)
        z = rng.standard_normal((len(rows), d))
        out[rows] = mu[j] + z @ np.linalg.cholesky(cov[j]).T
    return out


def match_norms(x, ref_norms):
    """Rescale rows of x so their norms follow ref_norms' distribution while
    keeping their order (a row that sampled long stays long)."""
    norms = np.linalg.norm(x, axis=1)
    order = np.argsort(norms, kind="stable")
    q = (np.arange(len(x)) + 0.5) / len(x)
    target = np.quantile(np.sort(ref_norms), q)
    scale = np.empty(len(x))
    scale[order] = target / np.maximum(norms[order], 1e-12)
    x *= scale[:, None].astype(np.float32)
    return x


def random_mixture(n, d, k, rng, spread):
    centers = rng.standard_normal((k, d)) * spread
    comp = rng.integers(0, k, n)
    x = (centers[comp] + rng.standard_normal((n, d)) * 0.6).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x *= rng.lognormal(0.0, 0.6, n)[:, None].astype(np.float32)
    return x


def write_ids(path, prefix, n):
    with open(path, "w") as f:
        f.write("".join(f"{prefix}{i}\n" for i in range(n)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, required=True)
    ap.add_argument("--users", type=int, default=10000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", help="mf model.safetensors to imitate")
    ap.add_argument("--components", type=int, default=16)
    ap.add_argument("--factors", type=int, default=64, help="without --model")
    ap.add_argument("--seed", type=int, default=17)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out, exist_ok=True)
    if a.model:
        V, U = load_factors(a.model)
        gi = fit_gmm(V, a.components, rng)
        gu = fit_gmm(U, max(1, a.components // 4), rng)
        items = match_norms(sample_gmm(gi, a.items, rng), np.linalg.norm(V, axis=1))
        users = match_norms(sample_gmm(gu, a.users, rng), np.linalg.norm(U, axis=1))
        how = f"mixture of {len(gi[0])} (items) / {len(gu[0])} (users) fitted to {a.model}"
    else:
        items = random_mixture(a.items, a.factors, a.components, rng, 1.0)
        users = random_mixture(a.users, a.factors, a.components, rng, 1.0)
        how = f"random mixture of {a.components} clusters"
    np.save(os.path.join(a.out, "item_factors.npy"), np.ascontiguousarray(items, np.float32))
    np.save(os.path.join(a.out, "user_factors.npy"), np.ascontiguousarray(users, np.float32))
    write_ids(os.path.join(a.out, "item_ids.txt"), "i", a.items)
    write_ids(os.path.join(a.out, "user_ids.txt"), "u", a.users)
    print(f"catalog_synth: {a.items} items x {items.shape[1]} factors, {a.users} users ({how})",
          file=sys.stderr)


if __name__ == "__main__":
    main()
