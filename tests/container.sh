#!/usr/bin/env bash
# container.sh - build the Encore image with podman and use it the way users do.
#
#   1. ../shared/tools/container-smoke.sh: offline build of ./Dockerfile, run, wait for
#      GET /readyz = 200 (the demo model is loaded), the image's HEALTHCHECK
#      (encore-server --check-health), stop on SIGTERM; the image must not run as root.
#   2. image size (fails above ENCORE_IMAGE_MAX_MB, default 100).
#   3. the image hardened as in Kubernetes (--read-only, tmpfs /tmp, --cap-drop ALL,
#      no-new-privileges): POST /v1/models/demo:recommend for a user of the demo data
#      must answer JSON with k items, string ids, finite non-increasing scores; an
#      unknown model answers 404 JSON; /metrics counts the requests; SIGTERM ends the
#      server with exit code 0 after the drain period.
#   4. the CronJob / compose flow: the image's encore-train writes data and a model into
#      a mounted volume, a server with that volume mounted read-only serves it, and a
#      second training run is picked up by hot reload (version 2) without a restart.
#
# Usage: tests/container.sh [CONTEXT_DIR=repo root]    Needs root and podman (the smoke
# script installs podman on first use). Skips (exit 0, saying why) when not root.
# Environment: ENCORE_IMAGE (default encore-test), ENCORE_IMAGE_MAX_MB (100),
# CONTAINER_SMOKE (path of container-smoke.sh), RESULTS (append a summary there).
set -euo pipefail

SRC=${ENCORE_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
CTX=${1:-$SRC}
SMOKE=${CONTAINER_SMOKE:-$SRC/../shared/tools/container-smoke.sh}
NAME=${ENCORE_IMAGE:-encore-test}
IMAGE=localhost/$NAME:latest
MAX_MB=${ENCORE_IMAGE_MAX_MB:-100}
log() { printf 'container: %s\n' "$*" >&2; }
die() { printf 'container: FAIL: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "container: SKIP: needs root (rootful podman)"; exit 0; }
[ -f "$SMOKE" ] || die "no container-smoke.sh at $SMOKE"

# ---- 1. build + smoke
t0=$(date +%s)
HEALTH_PATH=/readyz SMOKE_REQUIRE_NONROOT=1 STOP_TIMEOUT=20 bash "$SMOKE" "$CTX" "$NAME" \
  || die "container-smoke.sh failed"
smoke_s=$(( $(date +%s) - t0 ))
# the smoke script's podman settings for this sandbox (runc, ulimits, cgroupfs)
export CONTAINERS_CONF=${SMOKE_CACHE_DIR:-/var/cache/container-smoke}/containers.conf
pm() { podman "$@" 2> >(grep -v -E 'systemd connection|/run/systemd/private' >&2 || true); }

T=$(mktemp -d /tmp/encore-container.XXXXXX)
CONTAINERS=()
cleanup() {
  local c
  for c in "${CONTAINERS[@]}"; do pm rm -f -t 2 "$c" >/dev/null 2>&1 || true; done
  rm -rf "$T"
}
trap cleanup EXIT

# ---- 2. size
bytes=$(pm image inspect --format '{{.Size}}' "$IMAGE")
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
user=$(pm image inspect --format '{{.Config.User}}' "$IMAGE")
log "image $IMAGE: $mb MB, user $user"
awk -v b="$bytes" -v m="$MAX_MB" 'BEGIN { exit !(b / 1e6 < m) }' || die "image is $mb MB (limit $MAX_MB MB)"
case "$user" in 0|0:*|root*|"") die "image user is '$user'" ;; esac

# ---- helpers
HARDEN=(--read-only --tmpfs /tmp:rw,size=16m --cap-drop ALL --security-opt no-new-privileges)
start_server() {  # NAME [podman run args...]; sets URL
  local n=$1; shift
  pm run -d --name "$n" "${HARDEN[@]}" -e ENCORE_DRAIN_SECONDS=1 -p 127.0.0.1::8080 "$@" "$IMAGE" >/dev/null \
    || die "podman run $n failed"
  CONTAINERS+=("$n")
  URL="http://$(pm port "$n" 8080/tcp | head -1)"
  local i
  for i in $(seq 1 150); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz" 2>/dev/null)" = 200 ] && return 0
    [ "$(pm inspect --format '{{.State.Status}}' "$n")" = running ] || { pm logs "$n" >&2; die "$n exited"; }
    sleep 0.2
  done
  pm logs "$n" >&2; die "$n not ready within 30 s"
}
# recommend MODEL USER K -> checks the answer, prints "version"
recommend() {
  curl -s -o "$T/resp.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    -d "{\"user\":\"$2\",\"k\":$3}" "$URL/v1/models/$1:recommend" > "$T/code" || true
  /usr/bin/python3 - "$T/resp.json" "$(cat "$T/code")" "$1" "$2" "$3" <<'EOF'
import json, math, sys
path, code, model, user, k = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
body = open(path).read()
assert code == "200", f"HTTP {code}: {body}"
r = json.loads(body)
assert r["model"] == model and r.get("user") == user, r
assert "fallback" not in r, f"user {user} unknown to the model: {r}"
items = r["items"]
assert len(items) == k, f"{len(items)} items, asked for {k}"
scores = [it["score"] for it in items]
assert all(isinstance(it["item"], str) and it["item"] for it in items), items
assert all(isinstance(s, (int, float)) and math.isfinite(s) for s in scores), scores
assert all(a >= b for a, b in zip(scores, scores[1:])), f"scores not sorted: {scores}"
assert len({it["item"] for it in items}) == k, "duplicate items"
print(r["version"])
EOF
}

# a user of the demo data, from the image's own encore-train (the same embedded set)
mkdir -p "$T/data" "$T/models"
chmod 777 "$T/data" "$T/models"
pm run --rm "${HARDEN[@]}" -v "$T/data:/data" --entrypoint /usr/bin/encore-train "$IMAGE" \
  demo-data --dir /data >/dev/null || die "encore-train demo-data in the image failed"
[ -s "$T/data/interactions.tsv" ] && [ -s "$T/data/items.csv" ] || die "demo-data wrote no files"
DEMO_USER=$(awk -F'[\t,]' 'NF >= 2 && tolower($1) !~ /^(user|userid|user_id|uid)$/ && $1 !~ /^#/ { print $1; exit }' \
  "$T/data/interactions.tsv")
[ -n "$DEMO_USER" ] || die "no user found in the demo interactions"

# ---- 3. hardened server with the baked-in model
start_server encore-ct-$$
v=$(recommend demo "$DEMO_USER" 5) || die "recommend on the baked-in demo model"
log "POST /v1/models/demo:recommend {user: $DEMO_USER, k: 5} -> 5 items (model version $v)"
code=$(curl -s -o "$T/nf.json" -w '%{http_code}' -H 'Content-Type: application/json' -d '{"user":"x","k":1}' "$URL/v1/models/no-such-model:recommend")
[ "$code" = 404 ] && /usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/nf.json" \
  || die "unknown model: HTTP $code $(cat "$T/nf.json")"
curl -fs "$URL/metrics" > "$T/metrics" || die "GET /metrics"
grep -q '^# TYPE' "$T/metrics" || die "/metrics is not Prometheus text"
pm healthcheck run encore-ct-$$ >/dev/null 2>&1 || die "HEALTHCHECK failed in the hardened container"
t1=$(date +%s.%N)
pm stop -t 20 encore-ct-$$ >/dev/null
stop_s=$(awk -v a="$t1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
rc=$(pm inspect --format '{{.State.ExitCode}}' encore-ct-$$)
[ "$rc" = 0 ] || { pm logs encore-ct-$$ | tail -5 >&2; die "exit code $rc after SIGTERM"; }
log "SIGTERM: exit 0 after ${stop_s} s (drain 1 s)"

# ---- 4. trainer writes into a mounted repository, the server hot-reloads
train() {
  pm run --rm "${HARDEN[@]}" -v "$T/data:/data:ro" -v "$T/models:/models" \
    --entrypoint /usr/bin/encore-train "$IMAGE" als --interactions /data/interactions.tsv \
    --items /data/items.csv --out /models/mine --threads 1 "$@" >/dev/null \
    || die "encore-train als in the image failed"
}
train --seed 1
start_server encore-ct2-$$ -v "$T/models:/models:ro"
v=$(recommend mine "$DEMO_USER" 3) || die "recommend on the mounted model"
[ "$v" = 1 ] || die "mounted model version $v, expected 1"
train --seed 2
for _ in $(seq 1 100); do
  v=$(recommend mine "$DEMO_USER" 3) || die "recommend during reload"
  [ "$v" = 2 ] && break
  sleep 0.2
done
[ "$v" = 2 ] || die "version 2 written into the mounted repository was not picked up within 20 s"
log "mounted /models: served version 1, trainer wrote version 2, hot reload served it"
pm stop -t 20 encore-ct2-$$ >/dev/null

# ---- 5. the rendered dev Deployment under `podman kube play` (replicas 1, a hostPort,
# the image's own /models instead of the PVC, which kube play cannot share across pods).
# Checks that the manifests' securityContext, ConfigMap mount and --config args run as
# written. Podman turns the httpGet liveness probe into a curl healthcheck that this
# shell-less image cannot run (and does not resolve named ports), so probes are not
# exercised here: the HEALTHCHECK above covers the binary's own check.
kube="skipped (no kubectl or node yaml module)"
YAML_FROM=${K8S_VALIDATE_CACHE:-/var/cache/k8s-validate}
if command -v kubectl >/dev/null && command -v node >/dev/null && [ -d "$YAML_FROM/node_modules/yaml" ]; then
  kubectl kustomize "$SRC/deploy/overlays/dev" > "$T/dev.yaml" || die "kubectl kustomize dev"
  KPORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat > "$T/tokube.mjs" <<'JS'
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
const require = createRequire(process.env.YAML_FROM + "/package.json");
const { parseAllDocuments, stringify } = require("yaml");
const [file, image, hostPort] = process.argv.slice(2);
const out = [];
for (const d of parseAllDocuments(readFileSync(file, "utf8")).map(x => x.toJS())) {
  if (d.kind !== "ConfigMap" && d.kind !== "Deployment") continue;
  delete d.metadata.namespace;
  if (d.kind === "Deployment") {
    const s = d.spec.template.spec, c = s.containers[0];
    d.spec.replicas = 1;
    c.image = image;
    c.ports[0].hostPort = Number(hostPort);
    s.volumes = s.volumes.filter(v => !v.persistentVolumeClaim);
    c.volumeMounts = c.volumeMounts.filter(m => s.volumes.some(v => v.name === m.name));
  }
  out.push(stringify(d));
}
process.stdout.write(out.join("---\n"));
JS
  YAML_FROM=$YAML_FROM node "$T/tokube.mjs" "$T/dev.yaml" "$IMAGE" "$KPORT" > "$T/kube.yaml" \
    || die "converting the dev render"
  pm kube play "$T/kube.yaml" > "$T/kube.out" || die "podman kube play"
  KC=$(pm ps --format '{{.Names}}' | grep -- '^encore-server-pod-.*-server$' | head -1)
  [ -n "$KC" ] || { pm kube down "$T/kube.yaml" >/dev/null 2>&1 || true; die "kube play started no server container"; }
  URL=http://127.0.0.1:$KPORT
  for _ in $(seq 1 150); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz" 2>/dev/null)" = 200 ] && break
    sleep 0.2
  done
  if ! v=$(recommend demo "$DEMO_USER" 5); then
    pm logs "$KC" >&2 || true
    pm kube down "$T/kube.yaml" >/dev/null 2>&1 || true
    die "recommend under podman kube play"
  fi
  sec=$(pm inspect --format '{{.HostConfig.ReadonlyRootfs}} {{.Config.User}} {{.HostConfig.SecurityOpt}} {{.Args}}' "$KC")
  pm kube down "$T/kube.yaml" >/dev/null || die "podman kube down"
  # kube play turned the ConfigMap into a named volume; kube down leaves it behind
  for vol in $(pm volume ls --format '{{.Name}}' | grep '^encore-config-' || true); do
    pm volume rm "$vol" >/dev/null 2>&1 || true
  done
  case "$sec" in
    "true 65532"*no-new-privileges*"--config /etc/encore/encore.json"*) ;;
    *) die "kube play container settings: $sec" ;;
  esac
  kube="ok (read-only root, user 65532, no-new-privileges, ConfigMap via --config, recommend answered)"
fi
log "podman kube play of the dev Deployment: $kube"

summary="image $mb MB; smoke+build ${smoke_s} s; recommend JSON ok; SIGTERM exit 0 in ${stop_s} s; volume + hot reload ok; kube play $kube"
[ -n "${RESULTS:-}" ] && echo "$summary" >> "$RESULTS"
echo "container: PASS ($summary)"
echo "1 passed, 0 failed"
