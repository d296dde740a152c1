#!/usr/bin/env python3
"""experiments_drive.py - drive an A/B experiment on running encore-servers
and check the report's counts exactly (tests/e2e_experiments.sh).

Recommendations go to the first server, events alternately to each server
given (replicas sharing a store attribute each other's recommendations), and
the report is read from the last. The expected figures are computed here,
independently: the variant of a user from SHA-256(salt \\0 experiment \\0 user),
the counts from what was sent, the z-test with Python's statistics module.

Usage: experiments_drive.py CONFIG.json EXPERIMENT USERS_FILE PORT [PORT...]
Prints one line per check; exits 1 if any failed.
"""
import hashlib
import json
import sys
import urllib.error
import urllib.request
from math import sqrt
from statistics import NormalDist

cfg_path, exp_name, users_path = sys.argv[1:4]
ports = sys.argv[4:]
cfg = json.load(open(cfg_path))["experiments"][exp_name]
users = [u.strip() for u in open(users_path) if u.strip()]
failed = 0


def check(name, want, got):
    global failed
    ok = want == got if not isinstance(want, float) else abs(want - got) < 1e-9
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": expected {want!r}, got {got!r}"))
    failed += not ok


def call(port, method, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def variant_of(user):
    d = hashlib.sha256(cfg["salt"].encode() + b"\0" + exp_name.encode() + b"\0" +
                       user.encode()).digest()
    u = (int.from_bytes(d[:8], "big") >> 11) / 2.0 ** 53
    total = sum(v["weight"] for v in cfg["variants"])
    acc = 0.0
    for i, v in enumerate(cfg["variants"]):
        acc += v["weight"]
        if i == len(cfg["variants"]) - 1 or u < acc / total:
            return v["name"]


names = [v["name"] for v in cfg["variants"]]
model_of = {v["name"]: v["model"] for v in cfg["variants"]}
exp = {n: {"recs": 0, "users": set(), "events": {}, "hits": 0, "hit_recs": set()} for n in names}
recs = []   # (variant, id, items)
ids = set()
for i, user in enumerate(users):
    for repeat in range(2 if i % 4 == 0 else 1):   # a quarter ask twice: sticky
        st, a = call(ports[0], "POST", f"/v1/experiments/{exp_name}:recommend",
                     {"user": user, "k": 10})
        if st != 200:
            check(f"recommend {user}: 200", 200, st)
            continue
        want = variant_of(user)
        if a["variant"] != want or a["model"] != model_of[want] or a["experiment"] != exp_name:
            check(f"user {user}: variant, model, experiment", (want, model_of[want], exp_name),
                  (a["variant"], a["model"], a["experiment"]))
        rid = a["recommendation_id"]
        if rid in ids or not rid.startswith(f"{exp_name}.{want}."):
            check(f"user {user}: a new id of the variant", "new", rid)
        ids.add(rid)
        items = [x["item"] for x in a["items"]]
        e = exp[want]
        e["recs"] += 1
        e["users"].add(user)
        recs.append((want, rid, items, user))
check(f"{len(recs)} recommendations answered, each with its own id", len(recs), len(ids))
check("both variants served", True, all(exp[n]["recs"] > 0 for n in names))

# Events: per recommendation, a play of its first item (a hit), for some a
# like of its third (a second hit, the same recommendation), a play of an
# item not in the list, a skip of a listed item (not a hit: negative type).
all_items = sorted({it for _, _, items, _ in recs for it in items})
events = []
for i, (v, rid, items, user) in enumerate(recs):
    e = exp[v]
    kind = i % 4
    if kind == 0 or kind == 3:
        events.append({"user": user, "item": items[0], "type": "play", "id": f"ev-{i}-a",
                       "recommendation_id": rid})
        e["events"]["play"] = e["events"].get("play", 0) + 1
        e["hits"] += 1
        e["hit_recs"].add(rid)
        if kind == 3:
            events.append({"user": user, "item": items[2], "type": "like",
                           "recommendation_id": rid})
            e["events"]["like"] = e["events"].get("like", 0) + 1
            e["hits"] += 1
    elif kind == 1:
        other = next(x for x in all_items if x not in items)
        events.append({"user": user, "item": other, "type": "play", "id": f"ev-{i}-b",
                       "recommendation_id": rid})
        e["events"]["play"] = e["events"].get("play", 0) + 1
    else:
        events.append({"user": user, "item": items[1], "type": "skip",
                       "recommendation_id": rid})
        e["events"]["skip"] = e["events"].get("skip", 0) + 1
events.append({"user": users[0], "item": all_items[0], "type": "play",
               "recommendation_id": "not-an-experiment-id"})
batches = [events[i:i + 7] for i in range(0, len(events), 7)]
for b, batch in enumerate(batches):
    st, a = call(ports[b % len(ports)], "POST", "/v1/events", {"events": batch})
    check(f"events batch {b}: accepted", (200, len(batch)), (st, a.get("accepted")))
# a retry of the first batch: its events with ids are duplicates and count once
with_id = sum("id" in x for x in batches[0])
st, a = call(ports[-1], "POST", "/v1/events", {"events": [x for x in batches[0] if "id" in x]})
check("retried batch: duplicates", (200, with_id), (st, a.get("duplicates")))

st, rep = call(ports[-1], "GET", f"/v1/experiments/{exp_name}")
check("report: 200", 200, st)
check("report: control", cfg.get("control", names[0]), rep["control"])
got = {v["name"]: v for v in rep["variants"]}
ctrl = got[rep["control"]]
for n in names:
    e, g = exp[n], got[n]
    check(f"{n}: users", len(e["users"]), g["users"])
    check(f"{n}: recommendations", e["recs"], g["recommendations"])
    check(f"{n}: events by type", e["events"], g["events"])
    check(f"{n}: hits", e["hits"], g["hits"])
    check(f"{n}: recommendations with a hit", len(e["hit_recs"]), g["recommendations_with_hit"])
    check(f"{n}: hit rate", len(e["hit_recs"]) / e["recs"], g["hit_rate"])
    if n != rep["control"]:
        x1, n1 = len(e["hit_recs"]), e["recs"]
        x0, n0 = ctrl["recommendations_with_hit"], ctrl["recommendations"]
        p1, p0 = x1 / n1, x0 / n0
        se = sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
        q = NormalDist().inv_cdf(0.975)
        vc = g["vs_control"]
        check(f"{n}: difference", p1 - p0, vc["difference"])
        check(f"{n}: CI low", p1 - p0 - q * se, vc["ci95"][0])
        check(f"{n}: CI high", p1 - p0 + q * se, vc["ci95"][1])
    else:
        check(f"{n}: no difference from itself", False, "vs_control" in g)

# this process's Prometheus counters (the first server served every recommendation)
with urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/metrics", timeout=10) as r:
    metrics = r.read().decode()
for n in names:
    line = f'encore_experiment_recommendations_total{{experiment="{exp_name}",variant="{n}"}} '
    val = next((int(l.split()[-1]) for l in metrics.splitlines() if l.startswith(line)), None)
    check(f"metrics: {n} recommendations", exp[n]["recs"], val)
    if len(ports) == 1:
        line = f'encore_experiment_hits_total{{experiment="{exp_name}",variant="{n}"}} '
        val = next((int(l.split()[-1]) for l in metrics.splitlines() if l.startswith(line)), None)
        check(f"metrics: {n} hits", exp[n]["hits"], val)
print(f"{len(recs)} recommendations, {len(events)} events; {failed} failed")
sys.exit(1 if failed else 0)
