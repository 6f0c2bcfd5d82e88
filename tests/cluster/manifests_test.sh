#!/usr/bin/env bash
# manifests/ on a real control plane (etcd, kube-apiserver,
# kube-controller-manager):
#  - `kubectl kustomize` builds every overlay and each overlay's engine/;
#  - every rendered object passes `kubectl apply --server-side
#    --dry-run=server --validate=strict`, without warnings, once its
#    prerequisites exist: the CRD (installed from crds/), the namespaces the
#    overlay creates, the monitoring stack's namespace and test-only stand-ins
#    for its ServiceMonitor and PrometheusRule CRDs (testdata/monitoring);
#  - monitoring is an opt-in component: every overlay applies (exit 0) on a
#    cluster without the Prometheus Operator, and staging and production
#    with components/monitoring apply once its CRDs and namespace exist;
#  - no Role or ClusterRole uses a wildcard, and the operator's Deployment is
#    hardened and leader-elected in every environment;
#  - each environment's PricingEngine has that environment's numbers
#    (production's is the scaling guide itself) and `pricing-operator render`
#    accepts it;
#  - the monitoring objects hold what HPAs, alerts and dashboards rely on
#    (promtool parses every query when it is installed);
#  - `kubectl apply -f crds/` and `-f examples/` still see only resources
#    next to their kustomize files.
#
#   bash tests/cluster/manifests_test.sh PRICING_OPERATOR_BINARY [WORKDIR]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
operator=$1
work=${2:-$(mktemp -d)}
. "$here/lib.sh"

operator_cluster_up
envs="dev staging production e2e"
quiet() { "$@" >/dev/null 2>&1; }

# --- Rendering --------------------------------------------------------------
for env in $envs; do
  for part in "" /engine; do
    out=$work/$env${part//\//-}.yaml
    if kubectl kustomize "$repo/manifests/overlays/$env$part" >"$out" 2>"$out.err"; then
      pass "kubectl kustomize manifests/overlays/$env$part builds"
    else
      fail "kubectl kustomize manifests/overlays/$env$part builds"; cat "$out.err"
    fi
  done
done
# Monitoring is an opt-in component: each overlay that recommends it, built
# with it the way a user adds it (components: [../../components/monitoring]).
with_monitoring="staging production"
for env in $with_monitoring; do
  dir=$work/$env-with-monitoring
  mkdir -p "$dir"
  printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- %s\ncomponents:\n- %s\n' \
    "$(realpath --relative-to="$dir" "$repo/manifests/overlays/$env")" \
    "$(realpath --relative-to="$dir" "$repo/manifests/components/monitoring")" >"$dir/kustomization.yaml"
  if kubectl kustomize "$dir" >"$work/$env+monitoring.yaml" 2>"$work/$env+monitoring.err"; then
    pass "kubectl kustomize manifests/overlays/$env with components/monitoring builds"
  else
    fail "kubectl kustomize manifests/overlays/$env with components/monitoring builds"
    cat "$work/$env+monitoring.err"
  fi
done
check "kubectl kustomize crds/ renders the CRD file" \
  bash -c "kubectl kustomize '$repo/crds' | grep -q '^kind: CustomResourceDefinition'"

# kinds FILE: "Kind namespace/name" for every object of a rendered stream.
kinds() {
  python3 - "$1" <<'PY'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d:
        m = d["metadata"]
        print(d["kind"], (m.get("namespace", "") + "/" if m.get("namespace") else "") + m["name"])
PY
}
for env in $envs; do kinds "$work/$env.yaml" >"$work/$env.kinds"; done
for env in $with_monitoring; do kinds "$work/$env+monitoring.yaml" >"$work/$env+monitoring.kinds"; done
installs_operator() {
  local env=$1 o
  for o in 'Namespace pricing-system' 'CustomResourceDefinition pricingengines.pricing.borrowrate.io' \
      'ServiceAccount pricing-system/pricing-operator' 'ClusterRole pricing-operator' \
      'ClusterRoleBinding pricing-operator' 'Role pricing-system/pricing-operator-leader-election' \
      'RoleBinding pricing-system/pricing-operator-leader-election' \
      'Deployment pricing-system/pricing-operator' 'Service pricing-system/pricing-operator-metrics'; do
    grep -qxF "$o" "$work/$env.kinds" || { echo "$env lacks $o"; return 1; }
  done
}
for env in $envs; do
  check "overlays/$env installs the namespace, CRD, RBAC, Deployment and metrics Service" \
    installs_operator "$env"
done
no_monitoring_kinds() {
  local env
  for env in $envs; do
    if grep -qE '^(PrometheusRule|ServiceMonitor) ' "$work/$env.kinds"; then echo "$env has them"; return 1; fi
  done
  for env in $with_monitoring; do
    grep -q '^PrometheusRule ' "$work/$env+monitoring.kinds" &&
      grep -q '^ServiceMonitor ' "$work/$env+monitoring.kinds" || { echo "$env+monitoring lacks them"; return 1; }
  done
}
check "no overlay holds monitoring objects unless components/monitoring is added" no_monitoring_kinds

# --- Server-side dry run ------------------------------------------------------
# The overlays first, on a cluster without the monitoring stack; then, once
# its stand-in CRDs and namespace exist, the overlays with the component.
# dry_run FILE NAME: FILE passes a server-side dry-run apply with strict
# field validation and no warning (PodSecurity warns about pods it would refuse).
dry_run() {
  local file=$1 name=$2
  if k apply --server-side --dry-run=server --validate=strict -f "$file" >"$file.dry" 2>"$file.dry.err" &&
     ! grep -qi warning "$file.dry.err"; then
    pass "$name: every object passes server-side dry-run apply"
  else
    fail "$name: every object passes server-side dry-run apply"; sed 's/^/  | /' "$file.dry.err"
  fi
  check "$name: the dry run covers every object ($(wc -l <"$file.dry") of $(grep -c '^kind: ' "$file"))" \
    test "$(wc -l <"$file.dry")" -eq "$(python3 -c 'import sys,yaml; print(sum(1 for d in yaml.safe_load_all(open(sys.argv[1])) if d))' "$file")"
}
# namespaces_of FILE: the Namespace objects of a rendered stream.
namespaces_of() {
  python3 - "$1" <<'PY'
import sys, yaml
print(yaml.safe_dump_all([d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "Namespace"]))
PY
}
# The namespaces an overlay creates must exist for a dry run of what goes in them.
for env in $envs; do
  for part in "" -engine; do
    namespaces_of "$work/$env$part.yaml" >"$work/$env$part-namespaces.yaml"
    k apply --server-side -f "$work/$env$part-namespaces.yaml" >/dev/null
    dry_run "$work/$env$part.yaml" "overlays/$env${part/-//}"
  done
done
monitoring_stack_up() {
  k apply --server-side -f "$here/testdata/monitoring/crds.yaml" >/dev/null
  wait_established 60 servicemonitors.monitoring.coreos.com prometheusrules.monitoring.coreos.com
  k create namespace monitoring >/dev/null 2>&1 || true
}
monitoring_stack_up
for env in $with_monitoring; do
  dry_run "$work/$env+monitoring.yaml" "overlays/$env with components/monitoring"
done

# --- Without the Prometheus Operator -------------------------------------------
# What a new user runs first, on a cluster with no ServiceMonitor or
# PrometheusRule kinds and no namespace monitoring: every overlay applies, and
# exits 0. (After the dry runs, which a client-side apply would disturb.)
k delete -f "$here/testdata/monitoring/crds.yaml" --wait=true >/dev/null
k delete namespace monitoring --wait=true >/dev/null
for env in $envs; do
  for part in "" /engine; do
    if k apply -k "$repo/manifests/overlays/$env$part" >"$work/apply-$env${part//\//-}.out" 2>&1; then
      pass "kubectl apply -k manifests/overlays/$env$part exits 0 without the Prometheus Operator"
    else
      fail "kubectl apply -k manifests/overlays/$env$part exits 0 without the Prometheus Operator"
      sed 's/^/  | /' "$work/apply-$env${part//\//-}.out"
    fi
  done
done
# ...and with the component once the Prometheus Operator's CRDs and the
# namespace monitoring are back.
monitoring_stack_up
for env in $with_monitoring; do
  check "kubectl apply -k of overlays/$env with components/monitoring exits 0 once its CRDs exist" \
    quiet k apply -k "$work/$env-with-monitoring"
done

# --- RBAC and the operator's Deployment --------------------------------------------
no_wildcards() {
  python3 - "$@" <<'PY'
import sys, yaml
bad = []
for f in sys.argv[1:]:
    for d in yaml.safe_load_all(open(f)):
        if not d or d["kind"] not in ("Role", "ClusterRole"):
            continue
        for r in d.get("rules", []):
            for key in ("verbs", "resources", "apiGroups", "resourceNames"):
                if "*" in r.get(key, []) or any("*" in v for v in r.get(key, [])):
                    bad.append(f'{d["kind"]} {d["metadata"]["name"]}: {key} {r[key]}')
            if "nonResourceURLs" in r:
                bad.append(f'{d["kind"]} {d["metadata"]["name"]}: nonResourceURLs')
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
PY
}
check "no Role or ClusterRole grants a wildcard verb, resource or group" \
  no_wildcards "$work/dev.yaml" "$work/staging.yaml" "$work/production.yaml" "$work/production+monitoring.yaml"
grants_nothing_on() {
  python3 - "$work/production.yaml" "$@" <<'PY'
import sys, yaml
names = set(sys.argv[2:])
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "ClusterRole" and d["metadata"]["name"] == "pricing-operator":
        for r in d["rules"]:
            if names & set(r["resources"]):
                print(r); sys.exit(1)
        sys.exit(0)
sys.exit(1)
PY
}
check "the operator's ClusterRole grants nothing on secrets, configmaps, pods or RBAC" \
  grants_nothing_on secrets configmaps pods roles clusterroles rolebindings clusterrolebindings
# deployment_ok FILE REPLICAS: the operator's Deployment in FILE.
deployment_ok() {
  python3 - "$1" "$2" <<'PY'
import sys, yaml
want_replicas = int(sys.argv[2])
d = next(d for d in yaml.safe_load_all(open(sys.argv[1]))
         if d and d["kind"] == "Deployment" and d["metadata"]["name"] == "pricing-operator")
spec = d["spec"]["template"]["spec"]
c = spec["containers"][0]
problems = []
def want(cond, what):
    if not cond:
        problems.append(what)
want(d["spec"]["replicas"] == want_replicas, f"replicas {d['spec']['replicas']} != {want_replicas}")
want(spec.get("serviceAccountName") == "pricing-operator", "serviceAccountName")
want(c["args"][:2] == ["run", "--leader-elect"], f"args {c['args']}")
want(":8080" in c["args"] and ":8081" in c["args"], "metrics and health addresses")
psc, sc = spec.get("securityContext", {}), c.get("securityContext", {})
want(psc.get("runAsUser") == 65532 and psc.get("runAsNonRoot") is True, "non-root 65532")
want(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "seccomp RuntimeDefault")
want(sc.get("readOnlyRootFilesystem") is True, "read-only root filesystem")
want(sc.get("allowPrivilegeEscalation") is False, "no privilege escalation")
want(sc.get("capabilities", {}).get("drop") == ["ALL"], "drop ALL capabilities")
want(c["livenessProbe"]["httpGet"]["path"] == "/healthz", "liveness /healthz")
want(c["readinessProbe"]["httpGet"]["path"] == "/readyz", "readiness /readyz")
want({"requests", "limits"} <= set(c.get("resources", {})), "resources")
want("podAntiAffinity" in spec.get("affinity", {}), "anti-affinity")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PY
}
check "dev: the operator Deployment (1 replica) is hardened, leader-elected, probed" deployment_ok "$work/dev.yaml" 1
check "staging: the operator Deployment (2 replicas) is hardened, leader-elected, probed" deployment_ok "$work/staging.yaml" 2
check "production: the operator Deployment (2 replicas) is hardened, leader-elected, probed" deployment_ok "$work/production.yaml" 2

# --- Each environment's PricingEngine -----------------------------------------------
# bounds FILE: "component min..max" per component of the PricingEngine in FILE.
bounds() {
  python3 - "$1" <<'PY'
import sys, yaml
pe = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "PricingEngine")
print(" ".join(f'{c["name"]}={c["replicas"]["min"]}..{c["replicas"]["max"]}' for c in pe["spec"]["components"]))
PY
}
check "dev's PricingEngine runs every component from one replica" \
  test "$(bounds "$work/dev-engine.yaml")" = "api-gateway=1..2 calculation=1..3 data=1..2 cache=1..2 audit=1..2"
check "staging's PricingEngine has the medium ranges" \
  test "$(bounds "$work/staging-engine.yaml")" = "api-gateway=2..10 calculation=2..15 data=1..4 cache=1..3 audit=1..2"
same_as_guide() {
  python3 - "$work/production-engine.yaml" "$repo/examples/pricingengine-seed-production.yaml" <<'PY'
import sys, yaml
pe = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "PricingEngine")
guide = yaml.safe_load(open(sys.argv[2]))
sys.exit(0 if pe["spec"] == guide["spec"] and pe["metadata"]["name"] == guide["metadata"]["name"] else 1)
PY
}
check "production's PricingEngine is the scaling guide (examples/pricingengine-seed-production.yaml)" same_as_guide
for env in $envs; do
  python3 - "$work/$env-engine.yaml" >"$work/$env-pe.yaml" <<'PY'
import sys, yaml
print(yaml.safe_dump(next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "PricingEngine")))
PY
  check "pricing-operator render accepts $env's PricingEngine" \
    quiet "$operator" render -f "$work/$env-pe.yaml" --at 2027-03-15T14:00:00Z
done
budgets_can_drain() {
  "$operator" explain -f "$work/dev-pe.yaml" --at 2027-03-15T14:00:00Z >"$work/dev-explain.txt" &&
    ! grep -q 'minAvailable' "$work/dev-explain.txt"
}
check "dev's disruption budgets let a node drain (maxUnavailable everywhere)" budgets_can_drain

# --- Monitoring ---------------------------------------------------------------
monitoring_ok() {
  python3 - "$work/production+monitoring.yaml" <<'PY'
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
def obj(kind, name):
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)
problems = []
adapter = yaml.safe_load(obj("ConfigMap", "pricing-prometheus-adapter")["data"]["config.yaml"])
served = {r["name"]["as"]: r for r in adapter["rules"]}
for m in ("http_requests_per_second", "calculations_per_second",
          "database_connections_percentage", "cache_operations_per_second"):
    if m not in served:
        problems.append(f"prometheus-adapter serves no {m}")
    elif set(served[m]["resources"]["overrides"]) != {"namespace", "pod"}:
        problems.append(f"{m} is not per pod")
dash = obj("ConfigMap", "pricing-grafana-dashboard")
if dash["metadata"].get("labels", {}).get("grafana_dashboard") != "1":
    problems.append("the dashboard ConfigMap lacks grafana_dashboard: \"1\"")
board = json.loads(dash["data"]["pricing-engine.json"])
exprs = " ".join(t["expr"] for p in board["panels"] for t in p.get("targets", []))
exprs += " ".join(a["expr"] for a in board["annotations"]["list"])
for needle in ("http_requests_total", "http_request_duration_seconds_bucket", "histogram_quantile(0.99",
               "calculations_total", "kube_deployment_status_replicas",
               "kube_horizontalpodautoscaler_spec_min_replicas", "kube_horizontalpodautoscaler_spec_max_replicas",
               "kube_horizontalpodautoscaler_status_desired_replicas", "pricing_operator_policy_transitions_total",
               "pricing_operator_time_to_scale_seconds_bucket", "cache_hits_total"):
    if needle not in exprs:
        problems.append(f"the dashboard does not show {needle}")
alerts = {r["alert"]: r["expr"] for g in obj("PrometheusRule", "pricing")["spec"]["groups"] for r in g["rules"]}
for name, needle in (("PricingEngineLatencyHigh", "> 0.1"), ("PricingEngineErrorRateHigh", 'code=~"5.."'),
                     ("PricingEngineAuditDiskSlow", "audit_spool_sync_duration_seconds_bucket"),
                     ("PricingEngineScalingInactive", 'condition="ScalingActive", status="false"'),
                     ("PricingEngineAtMaxReplicas", "kube_horizontalpodautoscaler_spec_max_replicas"),
                     ("PricingOperatorReconcileErrors", "controller_runtime_reconcile_errors_total"),
                     ("PricingEngineVolatilitySourceStale", 'condition="VolatilitySourceHealthy"')):
    if needle not in alerts.get(name, ""):
        problems.append(f"alert {name} does not test {needle}")
ksm = yaml.safe_load(obj("ConfigMap", "pricing-kube-state-metrics")["data"]["custom-resource-state.yaml"])
if ksm["spec"]["resources"][0]["groupVersionKind"]["kind"] != "PricingEngine":
    problems.append("kube-state-metrics does not export PricingEngines")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PY
}
check "monitoring: adapter metrics, dashboard panels and alerts are all there" monitoring_ok
if command -v promtool >/dev/null 2>&1; then
  # The alerts as they are; the adapter's and the dashboard's queries as
  # recording rules, their template parts filled in with sample values.
  python3 - "$work/production+monitoring.yaml" "$work/rules.yaml" "$work/queries.yaml" <<'PY'
import json, re, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
def obj(kind, name):
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)
yaml.safe_dump(obj("PrometheusRule", "pricing")["spec"], open(sys.argv[2], "w"))
queries = []
adapter = yaml.safe_load(obj("ConfigMap", "pricing-prometheus-adapter")["data"]["config.yaml"])
for r in adapter["rules"]:
    series = r["seriesQuery"].split("{")[0].strip("'")
    q = (r["metricsQuery"].replace("<<.Series>>", series)
         .replace("<<.LabelMatchers>>", 'namespace="pricing",pod=~"pricing-calculation-.*"')
         .replace("<<.GroupBy>>", "pod"))
    queries.append(q)
board = json.loads(obj("ConfigMap", "pricing-grafana-dashboard")["data"]["pricing-engine.json"])
for p in board["panels"]:
    queries += [t["expr"] for t in p.get("targets", [])]
queries += [a["expr"] for a in board["annotations"]["list"]]
queries = [re.sub(r"\$\{?(\w+)\}?", "pricing", q) for q in queries]
yaml.safe_dump({"groups": [{"name": "queries", "rules": [
    {"record": f"query:{i}", "expr": q} for i, q in enumerate(queries)]}]}, open(sys.argv[3], "w"))
PY
  for f in "rules:the alert rules" "queries:the prometheus-adapter and dashboard queries"; do
    if promtool check rules "$work/${f%%:*}.yaml" >"$work/promtool.out" 2>&1; then
      pass "promtool parses ${f#*:}"
    else
      fail "promtool parses ${f#*:}"; sed 's/^/  | /' "$work/promtool.out"
    fi
  done
else
  echo "skip: promtool is not installed; alert, adapter and dashboard queries are not parsed"
fi

# --- The kustomize files next to plain resources ----------------------------------
check "kubectl apply -f crds/ applies only the CRD and its admission policy" \
  test "$(k apply --server-side --dry-run=server -f "$repo/crds/" -o name | sort | xargs)" = \
       "customresourcedefinition.apiextensions.k8s.io/pricingengines.pricing.borrowrate.io validatingadmissionpolicy.admissionregistration.k8s.io/pricingengines.pricing.borrowrate.io validatingadmissionpolicybinding.admissionregistration.k8s.io/pricingengines.pricing.borrowrate.io"
examples_only_resources() {
  k apply --dry-run=server -n default -f "$repo/examples/" -o name >"$work/examples.out" 2>&1 &&
    [ "$(grep -c '^pricingengine' "$work/examples.out")" = "$(ls "$repo"/examples/*.yaml | wc -l)" ]
}
check "kubectl apply -f examples/ still applies only the examples" examples_only_resources

summary
