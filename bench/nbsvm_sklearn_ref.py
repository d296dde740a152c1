#!/usr/bin/python3
"""nbsvm_sklearn_ref.py - scikit-learn NBSVM-bi on rt-polarity's shared folds,
the reference for encore-train text --model nbsvm.

Per fold: CountVectorizer(ngram_range=(1, 2), binary=True) fit on the nine
training folds; r = log((p/|p|1) / (q/|q|1)) with p, q = alpha + feature counts
of the positive / negative rows; LinearSVC (liblinear's dual L2-loss SVM,
C = 1) on X.multiply(r); interpolation w' = (1 - beta) * mean|w| + beta * w
(bias * beta), as Wang & Manning 2012 and models/text/nbsvm.c.

--tokenizer sklearn (default) uses CountVectorizer's own token pattern (words
of 2+ characters, no punctuation): the usual scikit-learn baseline.
--tokenizer encore uses the C tokeniser's rules (bench/lstm_torch.py
re-implements them byte for byte): unigrams + bigrams of words and
punctuation, so the two implementations see identical features.
Lines are decoded as cp1252 (falling back to latin-1) and split on b"\\n" only.

Prints one JSON object: accuracy (mean), folds, sd, train seconds per fold
(vectoriser fit + r + SVM) and single-sentence predict latency in process
(vectorise one string + dot product; and the dot product alone on a
pre-vectorised row, "predict_ms_prevectorised").
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np


def decode(b):
    try:
        return b.decode("cp1252")
    except UnicodeDecodeError:
        return b.decode("latin-1")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pos", required=True)
    ap.add_argument("--neg", required=True)
    ap.add_argument("--folds", required=True)
    ap.add_argument("--C", type=float, default=1.0)
    ap.add_argument("--beta", type=float, default=0.25)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--tokenizer", choices=["sklearn", "encore"], default="sklearn")
    ap.add_argument("--latency-n", type=int, default=1000,
                    help="sentences timed one at a time per fold")
    a = ap.parse_args()

    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.svm import LinearSVC

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import lstm_torch as L   # corpus / folds readers and the encore tokeniser

    raw, labels, keys = L.read_corpus(a.pos, a.neg)
    fold = np.array(L.read_folds(a.folds, keys))
    y = np.array(labels)
    if a.tokenizer == "sklearn":
        docs = [decode(t) for t in raw]
        make_vec = lambda: CountVectorizer(ngram_range=(1, 2), binary=True)
    else:
        # tokens as latin-1 strings (a bijection on bytes), pre-tokenised
        docs = [" ".join(t.decode("latin-1") for t in L.tokenize(r)) for r in raw]
        make_vec = lambda: CountVectorizer(ngram_range=(1, 2), binary=True, lowercase=False,
                                           token_pattern=None, tokenizer=str.split)
    k = int(fold.max()) + 1
    accs, secs, lat, lat_vec = [], [], [], []
    t_all = time.time()
    for f in range(k):
        tr, te = np.where(fold != f)[0], np.where(fold == f)[0]
        t0 = time.time()
        vec = make_vec()
        X = vec.fit_transform([docs[i] for i in tr])
        yt = y[tr]
        p = a.alpha + np.asarray(X[yt == 1].sum(0)).ravel()
        q = a.alpha + np.asarray(X[yt == 0].sum(0)).ravel()
        r = np.log((p / p.sum()) / (q / q.sum()))
        svm = LinearSVC(C=a.C, loss="squared_hinge", dual=True, max_iter=10000)
        svm.fit(X.multiply(r).tocsr(), yt)
        w = svm.coef_.ravel()
        w = (1 - a.beta) * np.abs(w).mean() + a.beta * w
        b = a.beta * svm.intercept_[0]
        wr = w * r
        secs.append(time.time() - t0)
        Xte = vec.transform([docs[i] for i in te])
        pred = Xte @ wr + b > 0
        accs.append(float((pred.astype(int) == y[te]).mean()))
        # single-sentence latency: vectorise one string and score it
        sample = te[:a.latency_n]
        tl = time.time()
        for i in sample:
            xi = vec.transform([docs[i]])
            float((xi @ wr)[0] + b)
        lat.append(1000.0 * (time.time() - tl) / len(sample))
        # the same without the vectoriser: one pre-vectorised CSR row at a time
        rows = [Xte[j] for j in range(len(sample))]
        tl = time.time()
        for xi in rows:
            float((xi @ wr)[0] + b)
        lat_vec.append(1000.0 * (time.time() - tl) / len(sample))
        print(f"nbsvm_sklearn_ref: fold {f + 1}/{k}: accuracy {accs[-1]:.4f} ({secs[-1]:.2f} s)",
              file=sys.stderr)
    mean = sum(accs) / k
    sd = math.sqrt(sum((x - mean) ** 2 for x in accs) / (k - 1))
    import sklearn
    print(json.dumps({"model": "nbsvm_sklearn", "sklearn": sklearn.__version__,
                      "tokenizer": a.tokenizer, "accuracy": mean, "folds": accs, "sd": sd,
                      "seconds": time.time() - t_all,
                      "train_seconds_per_fold": sum(secs) / k,
                      "predict_ms_per_example": sum(lat) / k,
                      "predict_ms_prevectorised": sum(lat_vec) / k,
                      "hyperparameters": {"C": a.C, "beta": a.beta, "alpha": a.alpha}}))


if __name__ == "__main__":
    main()
