#!/usr/bin/env python3
"""live_replay.py - the replay protocol of issue #15, driven over HTTP.

  live_replay.py prepare DATASET_DIR KIND OUT_DIR
      (KIND udata, ratings-csv, or nested: DATASET_DIR is a prepared
      directory whose training part is split again, for tuning)
      positives (rating >= 4) with timestamps; the global cutoff is the 80th
      percentile of their timestamps; writes OUT_DIR/train.tsv (user, item,
      weight 1) with the positives before it and OUT_DIR/replay.tsv (user,
      item, time) with the later ones in time order (ties: file order).
  live_replay.py run OUT_DIR LIVE_PORT STATIC_PORT DATASET
      replays replay.tsv: before each event asks :recommend (k = 10) on the
      live server (events on) and the static one (events off) for the event's
      user, then POSTs the event to the live server. Popularity: the most
      played training items the user has not consumed (training and replayed
      so far), counted in Python. Prints one JSON line.

HR@10: the next item is in the ten; NDCG@10: 1/log2(rank + 1) when it is.
"Known" events are those of users the model was trained on; "new_items":
the events whose item the model lacks (popularity and the static model can
never rank those).
"""
import http.client
import json
import math
import sys
from collections import Counter, defaultdict


def load(path, kind):
    rows = []
    with open(path, encoding="latin-1") as f:
        for n, line in enumerate(f):
            if kind == "ratings-csv":
                if n == 0:
                    continue
                u, i, r, t = line.rstrip("\n").split(",")
            else:
                u, i, r, t = line.rstrip("\n").split("\t")
            if float(r) >= 4:
                rows.append((int(t), n, u, i))
    return rows


def prepare(ds, kind, out):
    if kind == "nested":   # the training part of a prepared directory, split again
        rows = []
        with open(ds + "/train_times.tsv") as f:
            for n, line in enumerate(f):
                u, i, t = line.rstrip("\n").split("\t")
                rows.append((int(t), n, u, i))
    else:
        path = ds + ("/ratings.csv" if kind == "ratings-csv" else "/u.data")
        rows = load(path, kind)
    times = sorted(r[0] for r in rows)
    cutoff = times[int(0.8 * (len(times) - 1))]
    rows.sort()
    with open(out + "/train.tsv", "w") as tr, open(out + "/replay.tsv", "w") as rp, \
            open(out + "/train_times.tsv", "w") as tt:
        for t, _, u, i in rows:
            if t <= cutoff:
                tr.write(f"{u}\t{i}\t1\n")
                tt.write(f"{u}\t{i}\t{t}\n")
            else:
                rp.write(f"{u}\t{i}\t{t}\n")
    print(cutoff)


class Client:
    def __init__(self, port):
        self.port = port
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method, path, body):
        data = json.dumps(body)
        for attempt in range(3):
            try:
                self.c.request(method, path, data, {"Content-Type": "application/json"})
                r = self.c.getresponse()
                return r.status, json.loads(r.read())
            except (http.client.HTTPException, ConnectionError, OSError):
                self.c.close()
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        raise SystemExit("server on port %d does not answer" % self.port)


def gain(items, target):
    for rank, it in enumerate(items[:10]):
        if it == target:
            return 1.0, 1.0 / math.log2(rank + 2)
    return 0.0, 0.0


def run(out, live_port, static_port, dataset):
    train = defaultdict(set)
    pop = Counter()
    with open(out + "/train.tsv") as f:
        for line in f:
            u, i, _ = line.rstrip("\n").split("\t")
            train[u].add(i)
            pop[i] += 1
    ranked = [i for i, _ in pop.most_common()]
    replay = []
    with open(out + "/replay.tsv") as f:
        for line in f:
            u, i, t = line.rstrip("\n").split("\t")
            replay.append((u, i, int(t)))
    live, static = Client(live_port), Client(static_port)
    consumed = defaultdict(set)
    sums = {k: [0.0, 0.0] for k in ("known_static", "known_live", "all_live", "all_pop",
                                    "all_static", "known_pop", "new_live")}
    n_known = n_all = n_new = 0
    # by how many events the user had replayed before (cold starts apart)
    buckets = ((0, 0), (1, 2), (3, 5), (6, 20), (21, None))
    by_prior = {b: [0, 0.0, 0.0] for b in buckets}   # events, live NDCG, popularity NDCG
    sources = Counter()
    for n, (u, i, t) in enumerate(replay):
        q = {"user": u, "k": 10}
        st, lj = live.call("POST", "/v1/models/replay:recommend", q)
        if st != 200:
            raise SystemExit("live recommend: %d %s" % (st, lj))
        st, sj = static.call("POST", "/v1/models/replay:recommend", q)
        if st != 200:
            raise SystemExit("static recommend: %d %s" % (st, sj))
        sources[lj.get("source")] += 1
        known = u in train
        seen = train.get(u, set()) | consumed[u]
        popular = [x for x in ranked[:10 + len(seen)] if x not in seen][:10]
        g = {
            "live": gain([x["item"] for x in lj["items"]], i),
            "static": gain([x["item"] for x in sj["items"]], i),
            "pop": gain(popular, i),
        }
        n_all += 1
        for k in ("live", "pop", "static"):
            sums["all_" + k][0] += g[k][0]
            sums["all_" + k][1] += g[k][1]
        prior = len(consumed[u])
        for b in buckets:
            if prior >= b[0] and (b[1] is None or prior <= b[1]):
                by_prior[b][0] += 1
                by_prior[b][1] += g["live"][1]
                by_prior[b][2] += g["pop"][1]
        if i not in pop:   # an item the model lacks (a new item)
            n_new += 1
            sums["new_live"][0] += g["live"][0]
            sums["new_live"][1] += g["live"][1]
        if known:
            n_known += 1
            for k in ("live", "static", "pop"):
                sums["known_" + k][0] += g[k][0]
                sums["known_" + k][1] += g[k][1]
        st, pj = live.call("POST", "/v1/events",
                           {"events": [{"user": u, "item": i, "type": "play", "time": t}]})
        if st != 200:
            raise SystemExit("events: %d %s" % (st, pj))
        consumed[u].add(i)
    def avg(key, n):
        return round(sums[key][1] / n, 4) if n else 0.0
    def hr(key, n):
        return round(sums[key][0] / n, 4) if n else 0.0
    res = {
        "dataset": dataset,
        "known": {"events": n_known, "static_ndcg": avg("known_static", n_known),
                  "live_ndcg": avg("known_live", n_known),
                  "static_hr": hr("known_static", n_known), "live_hr": hr("known_live", n_known),
                  "popularity_ndcg": avg("known_pop", n_known)},
        "all": {"events": n_all, "live_ndcg": avg("all_live", n_all),
                "popularity_ndcg": avg("all_pop", n_all), "static_ndcg": avg("all_static", n_all),
                "live_hr": hr("all_live", n_all), "popularity_hr": hr("all_pop", n_all)},
        "new_items": {"events": n_new, "live_ndcg": avg("new_live", n_new),
                      "live_hr": hr("new_live", n_new)},
        "by_prior_events": {
            ("%d+" % b[0] if b[1] is None else "%d-%d" % b): {
                "events": v[0], "live_ndcg": round(v[1] / v[0], 4) if v[0] else 0.0,
                "popularity_ndcg": round(v[2] / v[0], 4) if v[0] else 0.0}
            for b, v in by_prior.items()},
        "live_sources": dict(sources),
    }
    k, a = res["known"], res["all"]
    res["ratios"] = {
        "known_live_over_static": round(k["live_ndcg"] / k["static_ndcg"], 3) if k["static_ndcg"] else None,
        "all_live_over_popularity": round(a["live_ndcg"] / a["popularity_ndcg"], 3) if a["popularity_ndcg"] else None,
    }
    print(json.dumps(res))


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
