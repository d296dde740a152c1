#!/usr/bin/python3
"""table_sklearn_ref.py - scikit-learn side of bench/table_accuracy.sh.

  prepare OUT   For iris, wine, breast_cancer and digits (the CSVs Debian's
                python3-sklearn ships, read with sklearn.datasets.load_*):
                  - a stratified 80/20 split from random_state 42, written as
                    index files bench/splits/<ds>.{train,test}.idx (row numbers
                    of the shipped file, one per line, committed so every run
                    uses the same split);
                  - 5 stratified folds (StratifiedKFold, shuffle, random_state 0)
                    as bench/splits/<ds>.fold<k>.idx (the test rows of fold k);
                  - plain CSVs with a header (f0..f{d-1},label) of the split and
                    of every fold's train/test part under OUT/ (not committed:
                    the data stays where Debian put it);
                  - scikit-learn 80/20 accuracy and 5-fold CV means on the same
                    rows for RandomForestClassifier(100, random_state=42),
                    LinearSVC (default squared hinge, and loss="hinge") and
                    LogisticRegression, the linear models on StandardScaler'd
                    features; in-process single-row predict_proba latency and
                    10,000-row batch throughput -> OUT/sklearn.json.
  report OUT MD Merge OUT/sklearn.json and OUT/encore.json (written by the shell
                script) into the Markdown table MD.
"""
import json
import os
import sys
import time
import warnings

import numpy as np

from sklearn import __version__ as skver
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

DATASETS = {
    "iris": load_iris,
    "wine": load_wine,
    "breast_cancer": load_breast_cancer,
    "digits": load_digits,
}
HERE = os.path.dirname(os.path.abspath(__file__))
SPLITS = os.path.join(HERE, "splits")


def models():
    return {
        "forest": lambda: RandomForestClassifier(n_estimators=100, random_state=42),
        "svm_sqhinge": lambda: make_pipeline(StandardScaler(), LinearSVC(random_state=0)),
        "svm_hinge": lambda: make_pipeline(StandardScaler(), LinearSVC(loss="hinge", random_state=0,
                                                                      max_iter=10000)),
        "logistic": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
    }


def write_csv(path, X, y, names):
    with open(path, "w") as f:
        f.write(",".join("f%d" % j for j in range(X.shape[1])) + ",label\n")
        for row, lab in zip(X, y):
            f.write(",".join(repr(float(v)) for v in row) + "," + names[lab] + "\n")


def write_idx(path, idx):
    with open(path, "w") as f:
        f.write("".join("%d\n" % i for i in idx))


def read_idx(path):
    with open(path) as f:
        return np.array([int(x) for x in f.read().split()], dtype=int)


def timing(model, Xte, Xbig):
    # single-row predict_proba, the way a naive per-request server calls it
    reps = 300
    t0 = time.perf_counter()
    for r in range(reps):
        model.predict_proba(Xte[r % len(Xte)].reshape(1, -1)) if hasattr(model, "predict_proba") \
            else model.decision_function(Xte[r % len(Xte)].reshape(1, -1))
    single = (time.perf_counter() - t0) / reps
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        model.predict_proba(Xbig) if hasattr(model, "predict_proba") else model.decision_function(Xbig)
        times.append(time.perf_counter() - t0)
    times.sort()
    return single * 1e6, len(Xbig) / times[2]


def prepare(out):
    os.makedirs(out, exist_ok=True)
    os.makedirs(SPLITS, exist_ok=True)
    warnings.simplefilter("ignore", ConvergenceWarning)
    res = {"sklearn_version": skver, "datasets": {}}
    for ds, loader in DATASETS.items():
        b = loader()
        X, y, names = b.data.astype(np.float64), b.target, [str(n) for n in b.target_names]
        tr_path, te_path = os.path.join(SPLITS, ds + ".train.idx"), os.path.join(SPLITS, ds + ".test.idx")
        if not os.path.exists(tr_path):
            idx = np.arange(len(y))
            tr, te = train_test_split(idx, test_size=0.2, random_state=42, stratify=y)
            write_idx(tr_path, sorted(tr))
            write_idx(te_path, sorted(te))
        tr, te = read_idx(tr_path), read_idx(te_path)
        write_csv(os.path.join(out, ds + ".train.csv"), X[tr], y[tr], names)
        write_csv(os.path.join(out, ds + ".test.csv"), X[te], y[te], names)
        write_csv(os.path.join(out, ds + ".all.csv"), X, y, names)
        # The reference figures match scikit-learn's classic unstratified
        # train_test_split(random_state=42): kept as a second split for comparison.
        utr_path, ute_path = (os.path.join(SPLITS, ds + ".unstratified." + p + ".idx")
                              for p in ("train", "test"))
        if not os.path.exists(utr_path):
            utr, ute = train_test_split(np.arange(len(y)), test_size=0.2, random_state=42)
            write_idx(utr_path, sorted(utr))
            write_idx(ute_path, sorted(ute))
        utr, ute = read_idx(utr_path), read_idx(ute_path)
        write_csv(os.path.join(out, ds + ".u.train.csv"), X[utr], y[utr], names)
        write_csv(os.path.join(out, ds + ".u.test.csv"), X[ute], y[ute], names)
        folds = []
        if not os.path.exists(os.path.join(SPLITS, ds + ".fold0.idx")):
            skf = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
            for k, (_, fte) in enumerate(skf.split(X, y)):
                write_idx(os.path.join(SPLITS, "%s.fold%d.idx" % (ds, k)), sorted(fte))
        for k in range(5):
            fte = read_idx(os.path.join(SPLITS, "%s.fold%d.idx" % (ds, k)))
            ftr = np.setdiff1d(np.arange(len(y)), fte)
            folds.append((ftr, fte))
            write_csv(os.path.join(out, "%s.fold%d.train.csv" % (ds, k)), X[ftr], y[ftr], names)
            write_csv(os.path.join(out, "%s.fold%d.test.csv" % (ds, k)), X[fte], y[fte], names)
        Xbig = X[np.arange(10000) % len(X)]
        r = {"rows": len(y), "features": X.shape[1], "classes": len(names), "test_rows": len(te)}
        for mname, make in models().items():
            m = make().fit(X[tr], y[tr])
            acc = float((m.predict(X[te]) == y[te]).mean())
            cv = []
            for ftr, fte in folds:
                mm = make().fit(X[ftr], y[ftr])
                cv.append(float((mm.predict(X[fte]) == y[fte]).mean()))
            single_us, rows_s = timing(m, X[te], Xbig)
            mu = make().fit(X[utr], y[utr])
            r[mname] = {"accuracy": acc, "cv_mean": float(np.mean(cv)), "cv": cv,
                        "accuracy_unstratified": float((mu.predict(X[ute]) == y[ute]).mean()),
                        "single_row_us": single_us, "batch_rows_per_second": rows_s}
            if mname == "forest":
                # seed spread: CV mean over random_state 1..5 on the same folds
                means = []
                for seed in range(1, 6):
                    accs = []
                    for ftr, fte in folds:
                        mm = RandomForestClassifier(n_estimators=100, random_state=seed).fit(X[ftr], y[ftr])
                        accs.append(float((mm.predict(X[fte]) == y[fte]).mean()))
                    means.append(float(np.mean(accs)))
                r[mname]["cv_mean_seeds"] = means
                m2 = RandomForestClassifier(n_estimators=100, random_state=42, n_jobs=2).fit(X[tr], y[tr])
                r[mname]["batch_rows_per_second_2threads"] = timing(m2, X[te], Xbig)[1]
            print("sklearn %-14s %-12s acc %.4f  cv %.4f  1-row %.0f us  batch %.0f rows/s" %
                  (ds, mname, acc, np.mean(cv), single_us, rows_s), file=sys.stderr)
        res["datasets"][ds] = r
    with open(os.path.join(out, "sklearn.json"), "w") as f:
        json.dump(res, f, indent=1)


def load_encore(out, sk):
    """OUT/enc/<ds>.<model>.{train,test,fold<k>,kfold}.json -> one dict per data set and model."""
    def j(name):
        with open(os.path.join(out, "enc", name + ".json")) as f:
            return json.load(f)
    en = {"date": open(os.path.join(out, "enc", "date")).read().strip(),
          "load": open(os.path.join(out, "enc", "load")).read().strip()}
    for ds in sk["datasets"]:
        en[ds] = {}
        for m in ("forest", "hinge", "squared_hinge", "logistic"):
            tr, te = j("%s.%s.train" % (ds, m)), j("%s.%s.test" % (ds, m))
            cv = [j("%s.%s.fold%d" % (ds, m, k))["accuracy"] for k in range(5)]
            r = {"accuracy": te["accuracy"], "cv_mean": float(np.mean(cv)), "cv": cv,
                 "train_seconds": tr["train_seconds"],
                 "own_kfold_mean": j("%s.%s.kfold" % (ds, m))["accuracy_mean"],
                 "accuracy_unstratified": j("%s.%s.u" % (ds, m))["accuracy"]}
            if m == "forest":
                r["cv_mean_seeds"] = [float(np.mean([j("%s.forest.s%d.fold%d" % (ds, sd, k))["accuracy"]
                                                     for k in range(5)])) for sd in range(1, 6)]
            for k in ("single_row_us", "batch_rows_per_second", "batch_rows_per_cpu_second"):
                if k in te:
                    r[k] = te[k]
            en[ds][m] = r
    with open(os.path.join(out, "encore.json"), "w") as f:
        json.dump(en, f, indent=1)
    return en


def report(out, md):
    sk = json.load(open(os.path.join(out, "sklearn.json")))
    en = load_encore(out, sk)
    L = []
    L.append("# Tables: random forest and linear models vs scikit-learn\n")
    L.append("Produced by `bench/table_accuracy.sh` (%s); scikit-learn %s under /usr/bin/python3, "
             "same machine, same run (load average at the start: %s; 2 cores shared with other "
             "jobs, so timings are noisy; OPENBLAS_NUM_THREADS=1 on both sides). The data are the CSVs Debian's python3-sklearn ships; the "
             "80/20 split (stratified, random_state 42) and the 5 CV folds (StratifiedKFold, "
             "shuffle, random_state 0) are the index files in `bench/splits/`, used by both sides.\n"
             % (en.get("date", "?"), sk["sklearn_version"], en.get("load", "?")))
    L.append("Models: Encore `forest` (100 trees, sqrt features, seed 42) vs "
             "RandomForestClassifier(100, random_state=42); Encore `linear --loss hinge --epochs 10000` vs "
             "LinearSVC(loss='hinge', max_iter=10000) and LinearSVC() (squared hinge, its default); Encore "
             "`linear --loss squared_hinge` vs LinearSVC(); Encore `linear --loss logistic` "
             "(multinomial for > 2 classes, its default `--multi auto`) vs LogisticRegression() "
             "(multinomial, lbfgs). All linear models on standardised features, C = 1.\n")
    L.append("## Accuracy on the 80/20 split (test rows; one example = 1/test rows)\n")
    pairs = [("forest", "forest", "forest"), ("hinge", "svm_hinge", "linear hinge"),
             ("squared_hinge", "svm_sqhinge", "linear squared_hinge"),
             ("logistic", "logistic", "logistic")]
    L.append("| data set (test rows) | model | Encore | scikit-learn | diff (examples) | issue reference |")
    L.append("| --- | --- | --- | --- | --- | --- |")
    ref = {"forest": [1.000, 1.000, 0.965, 0.972], "svm_sqhinge": [1.000, 1.000, 0.956, 0.953],
           "logistic": [1.000, 1.000, 0.974, 0.972]}
    for di, ds in enumerate(sk["datasets"]):
        s = sk["datasets"][ds]
        for ek, sk_k, label in pairs:
            e = en[ds][ek]
            diff = round((e["accuracy"] - s[sk_k]["accuracy"]) * s["test_rows"])
            L.append("| %s (%d) | %s | %.3f | %.3f | %+d | %s |" % (
                ds, s["test_rows"], label, e["accuracy"], s[sk_k]["accuracy"], diff,
                "%.3f" % ref[sk_k][di] if sk_k in ref else ""))
    L.append("\n## The issue's split (unstratified train_test_split, random_state 42)\n")
    L.append("The issue's reference figures match this split, not the stratified one above.\n")
    L.append("| data set (test rows) | model | Encore | scikit-learn | diff (examples) | issue reference |")
    L.append("| --- | --- | --- | --- | --- | --- |")
    for di, ds in enumerate(sk["datasets"]):
        s = sk["datasets"][ds]
        for ek, sk_k, label in pairs:
            e = en[ds][ek]
            diff = round((e["accuracy_unstratified"] - s[sk_k]["accuracy_unstratified"]) * s["test_rows"])
            L.append("| %s (%d) | %s | %.3f | %.3f | %+d | %s |" % (
                ds, s["test_rows"], label, e["accuracy_unstratified"], s[sk_k]["accuracy_unstratified"],
                diff, "%.3f" % ref[sk_k][di] if sk_k in ref else ""))
    L.append("\n## 5-fold cross-validation mean accuracy (same folds)\n")
    L.append("| data set | model | Encore | scikit-learn | Encore - sklearn | Encore `eval --kfold 5` (own folds) |")
    L.append("| --- | --- | --- | --- | --- | --- |")
    for ds in sk["datasets"]:
        s = sk["datasets"][ds]
        for ek, sk_k, label in pairs:
            e = en[ds][ek]
            L.append("| %s | %s | %.4f | %.4f | %+.4f | %.4f |" % (
                ds, label, e["cv_mean"], s[sk_k]["cv_mean"], e["cv_mean"] - s[sk_k]["cv_mean"],
                e.get("own_kfold_mean", float("nan"))))
    L.append("\nForests depend on the seed: 5-fold CV mean over seeds 1..5 (Encore `--seed`, "
             "scikit-learn `random_state`), same folds:\n")
    L.append("| data set | Encore mean (min..max) | scikit-learn mean (min..max) | Encore - sklearn |")
    L.append("| --- | --- | --- | --- |")
    for ds in sk["datasets"]:
        e, s = en[ds]["forest"]["cv_mean_seeds"], sk["datasets"][ds]["forest"]["cv_mean_seeds"]
        L.append("| %s | %.4f (%.4f..%.4f) | %.4f (%.4f..%.4f) | %+.4f |" % (
            ds, np.mean(e), min(e), max(e), np.mean(s), min(s), max(s), np.mean(e) - np.mean(s)))
    L.append("\n## In-process prediction speed\n")
    L.append("Single row: mean latency of one predict call with one row (Encore: `ops->predict` as "
             "the server calls it, through `encore-train eval --bench`; scikit-learn: "
             "`predict_proba` on a 1-row array). Batch: rows/s of one 10,000-row call, median of 5 "
             "(wall clock); Encore runs one thread per call. The last column is Encore's batch "
             "throughput per CPU-second of its thread, which the machine's load disturbs less.\n")
    L.append("| data set | model | Encore 1-row (us) | sklearn 1-row (us) | speed-up | Encore batch rows/s | sklearn batch rows/s | ratio | Encore rows/CPU-s |")
    L.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for ds in sk["datasets"]:
        s = sk["datasets"][ds]
        for ek, sk_k, label in [("forest", "forest", "forest"), ("logistic", "logistic", "logistic"),
                                ("hinge", "svm_hinge", "linear hinge")]:
            e = en[ds][ek]
            L.append("| %s | %s | %.2f | %.0f | %.0fx | %.0f | %.0f | %.2f | %.0f |" % (
                ds, label, e["single_row_us"], s[sk_k]["single_row_us"],
                s[sk_k]["single_row_us"] / e["single_row_us"], e["batch_rows_per_second"],
                s[sk_k]["batch_rows_per_second"],
                e["batch_rows_per_second"] / s[sk_k]["batch_rows_per_second"],
                e["batch_rows_per_cpu_second"]))
    L.append("\nscikit-learn forest with n_jobs=2 (both cores) on the 10,000-row batch: " + ", ".join(
        "%s %.0f rows/s" % (ds, sk["datasets"][ds]["forest"]["batch_rows_per_second_2threads"])
        for ds in sk["datasets"]) + ".\n")
    L.append("\n## Training time (Encore, 80/20 train part, 1 thread)\n")
    L.append("| data set | forest (s) | hinge (s) | logistic (s) |")
    L.append("| --- | --- | --- | --- |")
    for ds in sk["datasets"]:
        e = en[ds]
        L.append("| %s | %.3f | %.3f | %.3f |" % (ds, e["forest"]["train_seconds"],
                                                 e["hinge"]["train_seconds"],
                                                 e["logistic"]["train_seconds"]))
    with open(md, "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "prepare":
        prepare(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "report":
        report(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
