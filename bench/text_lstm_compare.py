#!/usr/bin/python3
"""text_lstm_compare.py - paired per-fold comparison of k-fold JSON results
(`encore-train text --folds` / bench/lstm_torch.py output).

Usage: /usr/bin/python3 bench/text_lstm_compare.py NAME=FILE.json[,FILE.json...] ...
Prints a Markdown table: one row per run with every fold's accuracy, the mean,
the sample sd and the training seconds per fold (several comma-separated
files, e.g. one per seed, are averaged per fold and their per-file means
listed); then, for each run after the first, the paired per-fold difference to the first run (first - other): its
mean, its standard error (sample sd of the differences / sqrt(folds)), a 95%
t interval and the number of folds won / tied / lost.
"""
import json
import math
import sys

# two-sided 95% Student t quantiles by degrees of freedom
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
       9: 2.262, 10: 2.228, 19: 2.093}


def stats(v):
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, sd


def main():
    runs = []
    for arg in sys.argv[1:]:
        name, paths = arg.split("=", 1)
        js = []
        for path in paths.split(","):
            with open(path) as f:
                js.append(json.load(f))
        n = min(len(j["folds"]) for j in js)
        runs.append((name, {
            "folds": [sum(j["folds"][i] for j in js) / len(js) for i in range(n)],
            "train_seconds_per_fold": sum(j["train_seconds_per_fold"] for j in js) / len(js),
            "file_means": [100 * sum(j["folds"][:n]) / n for j in js]}))
    k = min(len(j["folds"]) for _, j in runs)
    head = "| run | " + " | ".join(str(i + 1) for i in range(k)) + " | mean | sd | train s/fold |"
    print(head)
    print("|---" * (k + 4) + "|")
    for name, j in runs:
        acc = [100 * x for x in j["folds"][:k]]
        m, sd = stats(acc)
        print(f"| {name} | " + " | ".join(f"{x:.2f}" for x in acc) +
              f" | **{m:.2f}** | {sd:.2f} | {j['train_seconds_per_fold']:.1f} |")
    for name, j in runs:
        if len(j["file_means"]) > 1:
            print(f"\n{name}: mean of each file " +
                  " ".join(f"{x:.2f}" for x in j["file_means"]))
    print()
    base_name, base = runs[0]
    b = [100 * x for x in base["folds"][:k]]
    for name, j in runs[1:]:
        o = [100 * x for x in j["folds"][:k]]
        d = [x - y for x, y in zip(b, o)]
        m, sd = stats(d)
        se = sd / math.sqrt(k)
        t = T95.get(k - 1, 2.0)
        won = sum(x > 1e-9 for x in d)
        lost = sum(x < -1e-9 for x in d)
        print(f"- {base_name} minus {name}, per fold: " + " ".join(f"{x:+.2f}" for x in d))
        print(f"  mean {m:+.2f} points, SE {se:.2f} (95% t interval {m - t * se:+.2f} .. "
              f"{m + t * se:+.2f}); {base_name} better on {won} folds, worse on {lost}, "
              f"tied on {k - won - lost}; train time ratio "
              f"{j['train_seconds_per_fold'] / base['train_seconds_per_fold']:.2f}x")


if __name__ == "__main__":
    main()
