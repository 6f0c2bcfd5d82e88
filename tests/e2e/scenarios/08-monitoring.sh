# Scenario 8: monitoring that works. kube-state-metrics runs with
# manifests/monitoring's custom-resource configuration and Prometheus with its
# rules (scripts/e2e.sh); every series name the alerts and the dashboard query
# must exist in Prometheus, every rule group must load and evaluate, and a
# PricingEngine with an invalid spec must fire PricingEngineSpecInvalid (its
# `for:` is shortened by E2E_ALERT_FOR when the cluster comes up).
prom=http://10.77.0.2:9090
promq() { in_cluster curl -sf --max-time 10 "$prom$1" "${@:2}"; }

# Volatility status for the volatility series: a fixed reading and a regime
# that changes nothing else; removed at the end.
kc -n pricing patch pricingengine pricing --type merge -p '{"spec": {"volatility": {
  "source": {"value": 25}, "pollInterval": "15s", "minHold": "0s",
  "regimes": [{"name": "Elevated", "enterAbove": 22, "exitBelow": 20}]}}}' >/dev/null

# referenced_names: metric names in the rules' expressions and the dashboard's
# queries (PromQL functions, keywords and label names filtered out).
referenced_names() {
  python3 - "$repo/manifests/monitoring/prometheus-rule.yaml" "$repo/manifests/monitoring/dashboards/pricing-engine.json" <<'PY'
import json, re, sys, yaml
exprs = []
for g in yaml.safe_load(open(sys.argv[1]))["spec"]["groups"]:
    exprs += [r["expr"] for r in g["rules"]]
def walk(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k in ("expr", "query") and isinstance(v, str):
                exprs.append(v)
            else:
                walk(v)
    elif isinstance(o, list):
        for x in o:
            walk(x)
walk(json.load(open(sys.argv[2])))
names = set()
for e in exprs:
    e = re.sub(r"\{[^}]*\}", "", e)            # label matchers
    e = re.sub(r"\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)            # ranges
    e = re.sub(r'"[^"]*"', "", e)              # strings (label_replace's arguments)
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        tok = m.group(0)
        if re.match(r"\s*\(", e[m.end():]):     # a function call: label_replace(, sgn(, ...
            continue
        if tok in {"sum", "max", "min", "rate", "increase", "changes", "histogram_quantile", "absent",
                   "and", "or", "unless", "label_values", "prometheus", "le", "count"}:
            continue
        if re.fullmatch(r"[0-9a-z_:]+", tok) and ("_" in tok or tok == "up"):
            names.add(tok)
print("\n".join(sorted(names)))
PY
}
# The kubelet's cAdvisor series (the dashboard's CPU and memory headroom
# panels) come from the kubelet's /metrics/cadvisor, which this cluster's
# Prometheus scrapes as a Prometheus Operator stack's kubelet ServiceMonitor
# does (scripts/e2e/monitoring.py), so their names are checked like the
# others. On this node cAdvisor exports them without the pods' namespace,
# pod and container labels (a check for the engine containers' series found
# none), so the panels' label selectors are checked by promtool in
# tests/monitoring only.
referenced_names >"$work/referenced-names.txt"
# all_present: every referenced name has a series in Prometheus now.
all_present() {
  promq /api/v1/label/__name__/values >"$work/prom-names.json" || return 1
  python3 - "$work/prom-names.json" "$work/referenced-names.txt" <<'PY'
import json, sys
have = set(json.load(open(sys.argv[1]))["data"])
want = [n for n in open(sys.argv[2]).read().split() if n]
missing = [n for n in want if n not in have]
print(f"{len(want) - len(missing)} of {len(want)} names present; missing: {missing}")
sys.exit(1 if missing else 0)
PY
}
if eventually 120 all_present; then
  pass "every series the alerts and the dashboard query exists in Prometheus ($(wc -l <"$work/referenced-names.txt") names)"
else
  fail "every series the alerts and the dashboard query exists in Prometheus"
  all_present
fi
check "kube-state-metrics exports kube_customresource_pricingengine_status_condition{condition=\"Ready\"} = 1" \
  bash -c "'$e2e' exec '$cluster' -- curl -sf '$prom/api/v1/query' \
    --data-urlencode 'query=kube_customresource_pricingengine_status_condition{namespace=\"pricing\",name=\"pricing\",condition=\"Ready\"} == 1' |
    python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)[\"data\"][\"result\"] else 1)'"

rules_loaded() {
  promq /api/v1/rules | python3 -c '
import json, sys
groups = {g["name"]: g for g in json.load(sys.stdin)["data"]["groups"]}
want = {"pricing-engine", "pricing-scaling", "pricing-operator"}
bad = [(g["name"], r["name"], r.get("lastError")) for g in groups.values() for r in g["rules"]
       if r.get("health") != "ok"]
print("groups:", sorted(groups), "rules:", sum(len(g["rules"]) for g in groups.values()), "unhealthy:", bad)
sys.exit(0 if want <= set(groups) and not bad else 1)'
}
check "Prometheus loads and evaluates prometheus-rule.yaml's groups" eventually 60 rules_loaded
rules_loaded

# A PricingEngine the operator finds invalid (an unknown time zone) fires
# PricingEngineSpecInvalid.
kc create namespace pricing-invalid >/dev/null
kc -n pricing-invalid apply -f - >/dev/null <<'YAML'
apiVersion: pricing.borrowrate.io/v1alpha1
kind: PricingEngine
metadata: {name: badzone}
spec:
  image: pricing-engine:e2e
  components: [{name: api, replicas: {min: 1, max: 2}}]
  marketHours: {timeZone: Mars/Olympus_Mons}
YAML
t_invalid=$SECONDS
spec_invalid_fires() {
  promq /api/v1/alerts | python3 -c '
import json, sys
a = [x for x in json.load(sys.stdin)["data"]["alerts"] if x["labels"].get("alertname") == "PricingEngineSpecInvalid"]
print(a)
sys.exit(0 if any(x["state"] == "firing" and x["labels"].get("namespace") == "pricing-invalid"
                  and x["labels"].get("name") == "badzone" for x in a) else 1)'
}
if eventually 180 spec_invalid_fires; then
  pass "an invalid PricingEngine fires PricingEngineSpecInvalid, naming it"
  figure "monitoring: invalid spec applied -> PricingEngineSpecInvalid firing in $((SECONDS - t_invalid)) s"
else
  fail "an invalid PricingEngine fires PricingEngineSpecInvalid, naming it"
  spec_invalid_fires
fi
# The healthy PricingEngine fires none of the alerts on its status and its
# scaling. (The engine alerts on latency and errors may be pending after the
# earlier scenarios' deliberate outages; they are listed.)
healthy_quiet() {
  promq /api/v1/alerts | python3 -c '
import json, sys
alerts = [a for a in json.load(sys.stdin)["data"]["alerts"] if a["labels"].get("namespace") == "pricing"]
for a in alerts:
    print("alert in pricing:", a["state"], a["labels"].get("alertname"), a["labels"].get("component", ""))
status = {"PricingEngineSpecInvalid", "PricingEngineDegraded", "PricingEngineVolatilitySourceStale",
          "PricingEngineScalingInactive", "PricingEngineAtMaxReplicas", "PricingEngineReplicasBehindDesired"}
sys.exit(1 if any(a["state"] == "firing" and a["labels"].get("alertname") in status for a in alerts) else 0)'
}
check "no status or scaling alert fires for the healthy PricingEngine" healthy_quiet

kc delete namespace pricing-invalid --wait=false >/dev/null
kc -n pricing patch pricingengine pricing --type json -p '[{"op": "remove", "path": "/spec/volatility"}]' >/dev/null
