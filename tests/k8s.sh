#!/usr/bin/env bash
# k8s.sh - render every kustomize overlay under deploy/overlays offline and check it:
#   1. `kubectl kustomize` renders it (patches, generators and images apply);
#   2. ../shared/tools/k8s-validate.sh validates every object against the Kubernetes
#      schemas (types, required and unknown fields);
#   3. Encore's own deployment rules, which no schema knows (checked in node with the
#      yaml package k8s-validate.sh installed): >= 2 replicas; readiness /readyz,
#      liveness /healthz and a startup probe; requests and limits; a restricted
#      securityContext on every container; terminationGracePeriodSeconds covering
#      preStop + drain_seconds + shutdown_timeout of the rendered ConfigMap's encore.json;
#      Service / PDB / NetworkPolicy selectors and the HPA target matching the Deployment;
#      the config mounted and passed with --config; CPU requests = limits and
#      the CPU limit passed to the server through the downward API (divisor 1 or 1m); spread constraints honouring taints; metrics
#      by a PodMonitor (or GKE's PodMonitoring; every overlay but dev) and no prometheus.io
#      annotations (no double scrape); the models either a PVC the CronJob publishes into,
#      or object storage (s3:// / gs://) mirrored into a writable emptyDir cache_dir with
#      HTTPS egress and the CronJob publishing into the same bucket; the CronJob gates on
#      quality (encore-train gate) before `encore-train publish --keep N`.
# Usage: tests/k8s.sh [OVERLAY...]   (default: every directory in deploy/overlays)
# Needs kubectl (kustomize built in), node and npm (first run installs the validator's
# pinned npm packages). Exit 0 = all passed; the last line is "N passed, N failed".
# Exit 77 (skipped, saying so) without kubectl: Debian has no kubectl package, so
# the project's scripts cannot install it and CI=true does not turn this into a failure.
set -euo pipefail

SRC=${ENCORE_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
VALIDATE=${K8S_VALIDATE:-$SRC/../shared/tools/k8s-validate.sh}
CACHE=${K8S_VALIDATE_CACHE:-/var/cache/k8s-validate}
command -v kubectl >/dev/null || { echo "k8s: SKIP: kubectl not installed (not a Debian package)"; exit 77; }
[ -f "$VALIDATE" ] || { echo "k8s: FAIL: no validator at $VALIDATE"; exit 1; }

overlays=("$@")
if [ ${#overlays[@]} -eq 0 ]; then
  for d in "$SRC"/deploy/overlays/*/; do overlays+=("$(basename "$d")"); done
fi
out=$(mktemp -d /tmp/encore-k8s.XXXXXX)
trap 'rm -rf "$out"' EXIT
passed=0 failed=0

for o in "${overlays[@]}"; do
  f=$out/$o.yaml
  if ! kubectl kustomize "$SRC/deploy/overlays/$o" > "$f" 2> "$out/$o.err"; then
    cat "$out/$o.err" >&2
    echo "FAIL $o: kubectl kustomize"; failed=$((failed + 1)); continue
  fi
  echo "ok   $o: rendered $(grep -c '^kind:' "$f") objects"
  # PodMonitor / PodMonitoring are CRDs: no built-in schema (checked by the rules below)
  if bash "$VALIDATE" --allow-unknown-kinds "$f" > "$out/$o.val" 2>&1; then
    echo "ok   $o: k8s-validate ($(tail -1 "$out/$o.val"))"; passed=$((passed + 1))
  else
    cat "$out/$o.val"; echo "FAIL $o: k8s-validate"; failed=$((failed + 1))
  fi
done

# ---- Encore's rules (node + the validator's cached yaml package)
cat > "$out/rules.mjs" <<'EOF'
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
const require = createRequire(process.env.YAML_FROM + "/package.json");
const { parseAllDocuments } = require("yaml");

let bad = 0;
const fail = (o, m) => { console.log(`FAIL ${o}: ${m}`); bad++; };
const matches = (sel, labels) => Object.entries(sel || {}).every(([k, v]) => labels[k] === v);

for (const file of process.argv.slice(2)) {
  const o = file.replace(/^.*\//, "").replace(/\.yaml$/, "");
  const docs = parseAllDocuments(readFileSync(file, "utf8")).map(d => d.toJS()).filter(Boolean);
  const one = (kind, name) => docs.find(d => d.kind === kind && (!name || d.metadata.name === name));
  const dep = one("Deployment", "encore-server");
  if (!dep) { fail(o, "no Deployment encore-server"); continue; }
  const pod = dep.spec.template, ps = pod.spec, c = ps.containers[0];
  const labels = pod.metadata.labels;
  if (!(dep.spec.replicas >= 2)) fail(o, `replicas ${dep.spec.replicas} < 2`);
  if (!matches(dep.spec.selector.matchLabels, labels)) fail(o, "Deployment selector does not match its pods");
  const probe = (p, path) => p && p.httpGet && p.httpGet.path === path;
  if (!probe(c.readinessProbe, "/readyz")) fail(o, "readinessProbe is not GET /readyz");
  if (!probe(c.livenessProbe, "/healthz")) fail(o, "livenessProbe is not GET /healthz");
  if (!c.startupProbe) fail(o, "no startupProbe");
  for (const k of ["requests", "limits"])
    if (!c.resources || !c.resources[k] || !c.resources[k].cpu && k === "requests" || !c.resources[k].memory)
      fail(o, `server resources.${k} incomplete`);
  const a = pod.metadata.annotations || {};
  const svc0 = one("Service", "encore-server") || {metadata: {}};
  if (a["prometheus.io/scrape"] || (svc0.metadata.annotations || {})["prometheus.io/scrape"])
    fail(o, "prometheus.io annotations present: the PodMonitor scrapes (no double scrape)");
  const mon = docs.find(d => d.kind === "PodMonitor" || d.kind === "PodMonitoring");
  if (mon) {
    const eps = mon.spec.podMetricsEndpoints || mon.spec.endpoints || [];
    if (!matches(mon.spec.selector.matchLabels, labels) || !eps.some(e => e.port === "http" && e.path === "/metrics"))
      fail(o, `${mon.kind} does not scrape the server pods' http /metrics`);
  } else if (o !== "dev") fail(o, "no PodMonitor / PodMonitoring");
  if (!c.resources.limits.cpu || c.resources.requests.cpu !== c.resources.limits.cpu)
    fail(o, `server CPU requests ${c.resources.requests.cpu} != limits ${c.resources.limits.cpu}`);
  const thr = (c.env || []).find(e => e.name === "ENCORE_CPU_MILLICORES");
  const rf = thr && thr.valueFrom && thr.valueFrom.resourceFieldRef;
  if (!rf || rf.resource !== "limits.cpu" || String(rf.divisor) !== "1m")
    fail(o, "ENCORE_CPU_MILLICORES is not the CPU limit in millicores from the downward API");
  // what the API server enforces and no schema says: CPU divisors 1 or 1m only
  for (const k of [...(ps.initContainers || []), ...ps.containers])
    for (const e of k.env || []) {
      const r = e.valueFrom && e.valueFrom.resourceFieldRef;
      if (r && /cpu$/.test(r.resource) && r.divisor !== undefined && !["1", "1m"].includes(String(r.divisor)))
        fail(o, `${k.name}: env ${e.name}: CPU divisor ${r.divisor} (the API server accepts 1 or 1m)`);
    }
  for (const t of ps.topologySpreadConstraints || [])
    if (t.nodeTaintsPolicy !== "Honor") fail(o, `spread over ${t.topologyKey} counts tainted nodes (nodeTaintsPolicy)`);
  // every container of every pod template: restricted security
  const pods = docs.flatMap(d => d.kind === "Deployment" ? [[d, d.spec.template.spec]]
    : d.kind === "CronJob" ? [[d, d.spec.jobTemplate.spec.template.spec]] : []);
  for (const [d, s] of pods) {
    if (!(s.securityContext && s.securityContext.runAsNonRoot === true))
      fail(o, `${d.kind}/${d.metadata.name}: pod securityContext.runAsNonRoot is not true`);
    for (const k of [...(s.initContainers || []), ...s.containers]) {
      const sc = k.securityContext || {};
      const where = `${d.kind}/${d.metadata.name} container ${k.name}`;
      if (sc.allowPrivilegeEscalation !== false) fail(o, `${where}: allowPrivilegeEscalation is not false`);
      if (sc.readOnlyRootFilesystem !== true) fail(o, `${where}: readOnlyRootFilesystem is not true`);
      if (!(sc.capabilities && (sc.capabilities.drop || []).includes("ALL"))) fail(o, `${where}: capabilities not dropped`);
      if (!k.resources || !k.resources.limits || !k.resources.limits.memory) fail(o, `${where}: no memory limit`);
    }
  }
  // config: mounted from the generated ConfigMap and passed with --config
  const vol = (ps.volumes || []).find(v => v.configMap);
  const cm = vol && one("ConfigMap", vol.configMap.name);
  if (!cm) { fail(o, "the server's config volume names no rendered ConfigMap"); continue; }
  const mount = c.volumeMounts.find(m => m.name === vol.name);
  const key = Object.keys(cm.data)[0];
  const args = (c.args || []).join(" ");
  if (!mount || !args.includes(`--config ${mount.mountPath}/${key}`))
    fail(o, `args '${args}' do not pass the mounted ${key}`);
  const cfg = JSON.parse(cm.data[key]);
  const pre = c.lifecycle && c.lifecycle.preStop && c.lifecycle.preStop.sleep ? c.lifecycle.preStop.sleep.seconds : 0;
  const drain = cfg.drain_seconds ?? 5, stop = cfg.shutdown_timeout ?? 30;
  const grace = ps.terminationGracePeriodSeconds ?? 30;
  if (!(pre > 0)) fail(o, "no preStop sleep");
  if (grace < pre + drain + stop)
    fail(o, `terminationGracePeriodSeconds ${grace} < preStop ${pre} + drain_seconds ${drain} + shutdown_timeout ${stop}`);
  const port = c.ports.find(p => p.name === "http");
  if (!port || port.containerPort !== cfg.port) fail(o, `containerPort does not match config port ${cfg.port}`);
  const remote = /^(s3|gs):\/\//.test(cfg.models);
  let claim = null;
  if (remote) {
    const cacheMount = c.volumeMounts.find(m => m.mountPath === cfg.cache_dir);
    const cacheVol = cacheMount && ps.volumes.find(v => v.name === cacheMount.name);
    if (!cacheMount || cacheMount.readOnly || !cacheVol || !cacheVol.emptyDir)
      fail(o, `object storage: cache_dir ${cfg.cache_dir} is not a writable emptyDir mount`);
    const egress = docs.filter(d => d.kind === "NetworkPolicy" && matches(d.spec.podSelector.matchLabels, labels))
      .flatMap(d => d.spec.egress || []);
    if (!egress.some(e => (e.ports || []).some(p => p.port === 443)))
      fail(o, "object storage: the servers' NetworkPolicy allows no HTTPS egress");
  } else {
    const modelsMount = c.volumeMounts.find(m => m.mountPath === cfg.models);
    if (!modelsMount || !modelsMount.readOnly) fail(o, `config models ${cfg.models} is not a read-only mount`);
    claim = modelsMount && (ps.volumes.find(v => v.name === modelsMount.name) || {}).persistentVolumeClaim;
    if (!claim || !one("PersistentVolumeClaim", claim.claimName)) fail(o, "models volume is not a rendered PVC");
  }
  // the other objects point at the server
  const svc = one("Service", "encore-server");
  if (!svc || !matches(svc.spec.selector, labels) || !svc.spec.ports.some(p => p.targetPort === "http" || p.targetPort === cfg.port))
    fail(o, "Service does not select the server pods' http port");
  const pdb = one("PodDisruptionBudget");
  if (!pdb || !matches(pdb.spec.selector.matchLabels, labels)) fail(o, "PDB does not select the server pods");
  const hpa = one("HorizontalPodAutoscaler");
  if (!hpa || hpa.spec.scaleTargetRef.name !== dep.metadata.name || hpa.spec.minReplicas < 2
      || !hpa.spec.metrics.some(m => m.resource && m.resource.name === "cpu"))
    fail(o, "HPA does not scale the Deployment on CPU from >= 2 replicas");
  const np = docs.filter(d => d.kind === "NetworkPolicy");
  if (!np.some(p => matches(p.spec.podSelector.matchLabels, labels))) fail(o, "no NetworkPolicy selects the server pods");
  const cj = one("CronJob");
  const cjs = cj && cj.spec.jobTemplate.spec.template.spec;
  const pub = cjs && cjs.containers[0];
  const pargs = (pub && pub.args) || [];
  const outArg = (pargs.find(x => x.startsWith("--out=")) || "").slice(6);
  if (pargs[0] !== "publish" || !pargs.some(x => /^--keep=[1-9]/.test(x)))
    fail(o, "CronJob's last step is not `encore-train publish ... --keep=N`");
  if (!(cjs && (cjs.initContainers || []).some(k => (k.args || [])[0] === "gate")))
    fail(o, "CronJob has no quality gate (encore-train gate) before publishing");
  if (remote) {
    const bucket = cfg.models.replace(/^((s3|gs):\/\/[^/]+).*$/, "$1");
    if (!outArg.startsWith(cfg.models.replace(/\/$/, "") + "/")) fail(o, `CronJob publishes to ${outArg}, not into ${cfg.models}`);
    if (!bucket) fail(o, "no bucket");
  } else {
    const cjClaim = cjs && cjs.volumes.find(v => v.persistentVolumeClaim && claim && v.persistentVolumeClaim.claimName === claim.claimName);
    const cjMount = cjClaim && pub.volumeMounts.find(m => m.name === cjClaim.name);
    if (!cjMount || cjMount.readOnly) fail(o, "CronJob's publish step does not mount the model PVC read-write");
    else if (!outArg.startsWith(`${cjMount.mountPath}/`)) fail(o, "CronJob's --out is not inside the model PVC");
    for (const p of docs.filter(d => d.kind === "PersistentVolumeClaim"))
      if ((p.spec.accessModes || []).includes("ReadWriteMany") && o !== "prod" && !p.spec.storageClassName)
        fail(o, `PVC ${p.metadata.name} is ReadWriteMany without a storageClassName (clouds' default classes are ReadWriteOnce)`);
  }
  if (bad === 0) console.log(`ok   ${o}: deployment rules (grace ${grace} s >= ${pre} + ${drain} + ${stop})`);
}
process.exit(bad ? 1 : 0);
EOF
files=()
for o in "${overlays[@]}"; do [ -s "$out/$o.yaml" ] && files+=("$out/$o.yaml"); done
if [ ${#files[@]} -gt 0 ]; then
  if [ ! -d "$CACHE/node_modules/yaml" ]; then
    echo "FAIL rules: $CACHE/node_modules/yaml missing (k8s-validate.sh installs it)"; failed=$((failed + 1))
  elif YAML_FROM=$CACHE node "$out/rules.mjs" "${files[@]}"; then
    passed=$((passed + ${#files[@]}))
  else
    failed=$((failed + 1))
  fi
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
