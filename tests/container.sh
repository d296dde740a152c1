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
#   2b. OCI labels and the package manifest (dpkg status.d, packages.txt, CA bundle).
#   6. `podman kube play` of the dev Deployment with its model repository in object
#      storage: this test's S3-compatible server, the image's encore-train publishing.
#   4. the CronJob / compose flow: the image's encore-train writes data and a model into
#      a mounted volume, a server with that volume mounted read-only serves it, and a
#      second training run is picked up by hot reload (version 2) without a restart.
#
# Usage: tests/container.sh [CONTEXT_DIR=repo root]    Needs root and podman (the smoke
# script installs podman on first use). Skips (exit 77, saying why) when not root.
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
[ "$(id -u)" = 0 ] || { echo "container: SKIP: needs root (rootful podman)"; exit 77; }
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
  [ -z "${S3_PID:-}" ] || kill "$S3_PID" 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT

# ---- 2. size and metadata
bytes=$(pm image inspect --format '{{.Size}}' "$IMAGE")
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
user=$(pm image inspect --format '{{.Config.User}}' "$IMAGE")
log "image $IMAGE: $mb MB, user $user"
awk -v b="$bytes" -v m="$MAX_MB" 'BEGIN { exit !(b / 1e6 < m) }' || die "image is $mb MB (limit $MAX_MB MB)"
case "$user" in 0|0:*|root*|"") die "image user is '$user'" ;; esac
# metadata for scanners: OCI labels and the package manifest
ver=$(pm image inspect --format '{{index .Labels "org.opencontainers.image.version"}}' "$IMAGE")
[ -n "$ver" ] && [ "$ver" != "<no value>" ] || die "no org.opencontainers.image.version label"
mc=$(pm create "$IMAGE") || die "podman create"
mkdir -p "$T/meta"
pm cp "$mc:/usr/share/doc/encore/packages.txt" "$T/meta/packages.txt" >/dev/null && \
  pm cp "$mc:/var/lib/dpkg/status.d" "$T/meta/status.d" >/dev/null && \
  pm cp "$mc:/etc/ssl/certs/ca-certificates.crt" "$T/meta/ca.crt" >/dev/null || { pm rm -f "$mc" >/dev/null; die "image lacks its package manifest or CA bundle"; }
pm rm -f "$mc" >/dev/null
for p in libc6 libcurl3-gnutls libopenblas0-pthread ca-certificates; do
  grep -q "^$p " "$T/meta/packages.txt" || die "package manifest does not list $p: $(cat "$T/meta/packages.txt")"
  [ -s "$T/meta/status.d/$p" ] || die "no dpkg status entry for $p"
done
log "labels: version $ver; manifest: $(wc -l < "$T/meta/packages.txt") Debian packages in /var/lib/dpkg/status.d"

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
  # a pod left by an interrupted earlier run would make kube play fail
  pm pod rm -f encore-server-pod-0 encore-server-s3-pod-0 >/dev/null 2>&1 || true
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

# ---- 6. the dev Deployment under `podman kube play` with its models in object storage:
# this test's S3-compatible server (tests/lib/s3.sh) on the host's loopback, the pod on the
# host network, the image's encore-train publishing into the bucket, the server mirroring
# it into the pod's /tmp emptyDir and answering a recommend.
kube_s3="skipped (no kubectl, node/npm or the yaml module)"
if [ "$kube" != "skipped (no kubectl or node yaml module)" ] && command -v npm >/dev/null; then
  source "$SRC/tests/lib/s3.sh"
  s3_need
  s3_start "$T/s3" models || die "S3 test server"
  S3ENV=(-e AWS_ACCESS_KEY_ID=S3RVER -e AWS_SECRET_ACCESS_KEY=S3RVER -e AWS_REGION=us-east-1 -e "AWS_ENDPOINT_URL=$S3_URL")
  pm run --rm --network host "${HARDEN[@]}" "${S3ENV[@]}" --entrypoint /usr/bin/encore-train "$IMAGE" \
    publish --model /models/demo/1 --out s3://models/prod/demo >/dev/null || { s3_stop; die "publishing to S3 from the image"; }
  KPORT2=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat > "$T/tokube_s3.mjs" <<'JS'
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
const require = createRequire(process.env.YAML_FROM + "/package.json");
const { parseAllDocuments, stringify } = require("yaml");
const [file, image, port, s3url] = process.argv.slice(2);
const out = [];
for (const d of parseAllDocuments(readFileSync(file, "utf8")).map(x => x.toJS())) {
  if (d.kind !== "ConfigMap" && d.kind !== "Deployment") continue;
  delete d.metadata.namespace;
  if (d.kind === "ConfigMap") d.metadata.name += "-s3";
  if (d.kind === "Deployment") {
    d.metadata.name += "-s3";
    const s = d.spec.template.spec, c = s.containers[0];
    d.spec.replicas = 1;
    s.hostNetwork = true;
    c.image = image;
    s.volumes = s.volumes.filter(v => !v.persistentVolumeClaim);
    for (const v of s.volumes) if (v.configMap) v.configMap.name += "-s3";
    c.volumeMounts = c.volumeMounts.filter(m => s.volumes.some(v => v.name === m.name));
    const set = { ENCORE_MODELS: "s3://models/prod", ENCORE_CACHE_DIR: "/tmp/encore-cache",
                  ENCORE_RESCAN_SECONDS: "2", ENCORE_HOST: "127.0.0.1", ENCORE_PORT: port,
                  ENCORE_S3_ENDPOINT: s3url, AWS_ACCESS_KEY_ID: "S3RVER",
                  AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "us-east-1" };
    c.env = (c.env || []).filter(e => !(e.name in set) && !e.valueFrom)
      .concat(Object.entries(set).map(([name, value]) => ({ name, value })));
    // host network: no port mappings (podman refuses them); probes name the port
    delete c.ports;
    delete c.startupProbe; delete c.readinessProbe; delete c.livenessProbe;
  }
  out.push(stringify(d));
}
process.stdout.write(out.join("---\n"));
JS
  YAML_FROM=$YAML_FROM node "$T/tokube_s3.mjs" "$T/dev.yaml" "$IMAGE" "$KPORT2" "$S3_URL" > "$T/kube_s3.yaml" \
    || { s3_stop; die "converting the dev render (S3)"; }
  pm kube play "$T/kube_s3.yaml" > "$T/kube_s3.out" || { s3_stop; die "podman kube play (S3)"; }
  KC2=$(pm ps --format '{{.Names}}' | grep -- '^encore-server-s3-pod-.*-server$' | head -1)
  URL=http://127.0.0.1:$KPORT2
  for _ in $(seq 1 150); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz" 2>/dev/null)" = 200 ] && break
    sleep 0.2
  done
  if ! v=$(recommend demo "$DEMO_USER" 5); then
    [ -n "$KC2" ] && pm logs "$KC2" >&2 || true
    pm kube down "$T/kube_s3.yaml" >/dev/null 2>&1 || true
    s3_stop
    die "recommend under podman kube play with the models in S3"
  fi
  dl=$(curl -s "$URL/metrics" | awk '$1 == "encore_objstore_downloads_total" { print $2 }')
  pm kube down "$T/kube_s3.yaml" >/dev/null || true
  for vol in $(pm volume ls --format '{{.Name}}' | grep '^encore-config-' || true); do
    pm volume rm "$vol" >/dev/null 2>&1 || true
  done
  s3_stop
  [ "${dl:-0}" -ge 1 ] || die "kube play (S3): no download counted (encore_objstore_downloads_total ${dl:-none})"
  kube_s3="ok (trainer in the image published to S3, the dev Deployment mirrored it and answered recommend)"
fi
log "podman kube play of the dev Deployment with object storage: $kube_s3"

summary="image $mb MB; smoke+build ${smoke_s} s; recommend JSON ok; SIGTERM exit 0 in ${stop_s} s; volume + hot reload ok; kube play $kube; kube play with S3 $kube_s3"
[ -n "${RESULTS:-}" ] && echo "$summary" >> "$RESULTS"
echo "container: PASS ($summary)"
echo "1 passed, 0 failed"
