#!/usr/bin/env python3
"""experiment_sim.py - issue #16's simulation: does Encore's experiment
report find the better of two models, and does an A/A test stay quiet?

Protocol (bench/experiment_sim.sh runs it):
  * positives = ratings >= 4; per user, the last 20% of their positives by
    time (at least one; ties by item id) are held out, the rest train;
  * variant "als": encore-train als on the training positives; variant
    "pop": the popularity recommender, imported as a one-factor model (every
    user 1, every item its training count), so both answer through the same
    server code with the user's training items excluded;
  * experiment "alspop" (pop is the control, 50/50) and experiment "aa"
    (als twice, 50/50), different salts; every user with held-out items asks
    each experiment once for k = 10 (all answers before any event, so no
    event changes a later answer), then "plays" every recommended item that is
    in their held-out set: one play event per such item, with the answer's
    recommendation_id, through POST /v1/events;
  * the reports (GET /v1/experiments/{name}) are printed as they come;
  * and, to see more than one A/A draw: AA_REPEATS (default 20) more A/A
    experiments aa1, aa2, ... with their own salts, over the same users and
    answers' model: how many of their CIs exclude 0 (about 5% expected).
Pass criteria (the issue's): alspop finds als better with a 95% CI that
excludes 0; aa's CI covers 0.

Usage: experiment_sim.py prepare DATA_DIR KIND OUT_DIR
       experiment_sim.py run OUT_DIR PORT DATASET
"""
import json
import os
import sys
import urllib.request
from collections import defaultdict


def read_ratings(d, kind):
    rows = []
    if kind == "udata":
        for line in open(os.path.join(d, "u.data")):
            u, i, r, t = line.split("\t")
            rows.append((u, i, float(r), int(t)))
    else:
        f = open(os.path.join(d, "ratings.csv"))
        next(f)
        for line in f:
            u, i, r, t = line.strip().split(",")
            rows.append((u, i, float(r), int(t)))
    return rows


def prepare(d, kind, out):
    pos = defaultdict(list)
    for u, i, r, t in read_ratings(d, kind):
        if r >= 4:
            pos[u].append((t, i))
    train, test = [], []
    for u, lst in pos.items():
        lst.sort(key=lambda x: (x[0], int(x[1]) if x[1].isdigit() else x[1]))
        n_test = max(1, len(lst) // 5) if len(lst) >= 2 else 0
        for t, i in lst[:len(lst) - n_test]:
            train.append((u, i))
        for t, i in lst[len(lst) - n_test:]:
            test.append((u, i))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "train.tsv"), "w") as f:
        for u, i in train:
            f.write(f"{u}\t{i}\t1\n")
    with open(os.path.join(out, "test.tsv"), "w") as f:
        for u, i in test:
            f.write(f"{u}\t{i}\n")
    count = defaultdict(int)
    users = []
    for u, i in train:
        count[i] += 1
    for u in dict.fromkeys(u for u, _ in train):
        users.append(u)
    top = max(count.values())
    with open(os.path.join(out, "pop_users.csv"), "w") as f:
        for u in users:
            f.write(f"{u},1\n")
    with open(os.path.join(out, "pop_items.csv"), "w") as f:
        for i, c in count.items():
            f.write(f"{i},{c / top:.9g}\n")
    aa = {"salt": "sim-2", "variants": [{"name": "a1", "model": "als", "weight": 50},
                                         {"name": "a2", "model": "als", "weight": 50}]}
    cfg = {"alspop": {"salt": "sim-1", "control": "pop",
                      "variants": [{"name": "pop", "model": "pop", "weight": 50},
                                   {"name": "als", "model": "als", "weight": 50}]},
           "aa": aa}
    for k in range(1, int(os.environ.get("AA_REPEATS", "20")) + 1):
        cfg[f"aa{k}"] = dict(aa, salt=f"sim-aa-{k}")
    json.dump({"experiments": cfg}, open(os.path.join(out, "config.json"), "w"), indent=1)
    print(f"{len(train)} training positives, {len(test)} held out, {len(users)} users, "
          f"{len(count)} items", file=sys.stderr)


def call(port, method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def run(out, port, dataset):
    test = defaultdict(set)
    for line in open(os.path.join(out, "test.tsv")):
        u, i = line.split()
        test[u].add(i)
    train_users = {line.split("\t")[0] for line in open(os.path.join(out, "train.tsv"))}
    users = sorted((u for u in test if u in train_users), key=lambda x: (len(x), x))
    answers = []
    exps = list(json.load(open(os.path.join(out, "config.json")))["experiments"])
    for exp in exps:
        for u in users:
            a = call(port, "POST", f"/v1/experiments/{exp}:recommend", {"user": u, "k": 10})
            answers.append((u, a))
    events = []
    for u, a in answers:
        for it in a["items"]:
            if it["item"] in test[u]:
                events.append({"user": u, "item": it["item"], "type": "play",
                               "recommendation_id": a["recommendation_id"]})
    for i in range(0, len(events), 500):
        call(port, "POST", "/v1/events", {"events": events[i:i + 500]})
    result = {"dataset": dataset, "users": len(users), "events": len(events)}
    ok = True
    for exp in ("alspop", "aa"):
        rep = call(port, "GET", f"/v1/experiments/{exp}")
        result[exp] = rep
        ctrl = rep["control"]
        for v in rep["variants"]:
            line = (f"{exp:7s} {v['name']:4s} users {v['users']:4d} recs {v['recommendations']:4d} "
                    f"hits {v['hits']:4d} with-hit {v['recommendations_with_hit']:4d} "
                    f"hit rate {v.get('hit_rate', 0):.4f}")
            if "vs_control" in v:
                c = v["vs_control"]
                line += (f"  vs {ctrl}: {c['difference']:+.4f} CI [{c['ci95'][0]:+.4f}, "
                         f"{c['ci95'][1]:+.4f}] p {c['p_value']:.2g}")
                if exp == "alspop":
                    ok &= c["ci95"][0] > 0
                else:
                    ok &= c["ci95"][0] <= 0 <= c["ci95"][1]
            print(line, file=sys.stderr)
    more = [e for e in exps if e not in ("alspop", "aa")]
    excl = 0
    for exp in more:
        v = call(port, "GET", f"/v1/experiments/{exp}")["variants"][1]["vs_control"]
        excl += not (v["ci95"][0] <= 0 <= v["ci95"][1])
    if more:
        result["aa_repeats"] = {"experiments": len(more), "ci_excludes_0": excl}
        print(f"A/A repeats: {excl} of {len(more)} CIs exclude 0 (5% expected by chance)",
              file=sys.stderr)
    result["pass"] = ok
    print(json.dumps(result))
    return ok


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(0 if run(sys.argv[2], sys.argv[3], sys.argv[4]) else 1)
