# Scenario 5: while a planned event sets a PodDisruptionBudget, the eviction
# API (policy/v1 Eviction, POST pods/NAME/eviction) admits the evictions the
# budget allows and refuses the rest with 429. The event raises calculation to
# 3 pods and sets minAvailable 60% for every component: calculation may lose
# 1 pod (its own budget, minAvailable 1, would allow 2) and the single
# api-gateway pod none (its own, maxUnavailable 1, would allow 1), so each
# refusal below is the event's. Afterwards the event is removed, calculation
# is back at its floor and the spec is restored.

# s5_evict POD: asks the API server to evict POD; prints the HTTP status.
s5_evict() {
  in_cluster curl -s -o "$work/s5-evict-$1.json" -w '%{http_code}' --max-time 20 \
    --cacert "$cluster/pki/ca.crt" -H "Authorization: Bearer $s5_token" -H 'Content-Type: application/json' \
    -d "{\"apiVersion\": \"policy/v1\", \"kind\": \"Eviction\", \"metadata\": {\"name\": \"$1\", \"namespace\": \"pricing\"}}" \
    "$s5_server/api/v1/namespaces/pricing/pods/$1/eviction"
}
# s5_ready_pods COMPONENT: the names of its Running and Ready pods, not terminating.
s5_ready_pods() {
  kc -n pricing get pods -l "app.kubernetes.io/component=$1" -o json | python3 -c '
import json, sys
for p in json.load(sys.stdin)["items"]:
    if "deletionTimestamp" not in p["metadata"] and p["status"].get("phase") == "Running" and \
       all(c.get("ready") for c in p["status"].get("containerStatuses", [{}])):
        print(p["metadata"]["name"])'
}
# s5_budget NAME MIN_AVAILABLE EXPECTED ALLOWED: the PDB has that spec and its status is current.
s5_budget() {
  kc -n pricing get pdb "$1" -o json | python3 -c '
import json, sys
o, (want, expected, allowed) = json.load(sys.stdin), sys.argv[1:]
s = o["status"]
sys.exit(0 if str(o["spec"].get("minAvailable")) == want and s.get("observedGeneration") == o["metadata"]["generation"]
         and s.get("expectedPods") == int(expected) and s.get("disruptionsAllowed") == int(allowed) else 1)' "$2" "$3" "$4"
}

s5_token=$(awk '$1 == "token:" {print $2}' "$cluster/kubeconfig")
s5_server=$(awk '$1 == "server:" {print $2}' "$cluster/kubeconfig")
rm -f "$work"/s5-*
pe_save_spec s5
python3 - "$work" <<'PY'
import datetime as dt, json, sys
w = sys.argv[1]
spec = json.load(open(f"{w}/s5-spec-fast-down.json"))
now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
z = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
spec["events"] = spec.get("events", []) + [{
    "name": "e2e-maintenance", "start": z(now - dt.timedelta(minutes=1)), "end": z(now + dt.timedelta(minutes=30)),
    "minReplicas": {"calculation": 3}, "disruption": {"minAvailable": "60%"}}]
json.dump(spec, open(f"{w}/s5-spec-event.json", "w"))
PY
min0=$(field pricing hpa/pricing-calculation '{.spec.minReplicas}')
base_allowed=$(field pricing pdb/pricing-calculation '{.status.disruptionsAllowed}')
base_gateway=$(field pricing pdb/pricing-api-gateway '{.status.disruptionsAllowed}')

t_event=$SECONDS
pe_set_spec "$work/s5-spec-event.json"
check "the event is active (status.activeEvents)" \
  eventually 30 bash -c "'$e2e' exec '$cluster' -- kubectl -n pricing get pe pricing -o jsonpath='{.status.activeEvents}' | grep -q e2e-maintenance"
check "the event's floor: calculation has 3 pods Running and Ready" \
  eventually 120 bash -c "[ \$('$e2e' exec '$cluster' -- kubectl -n pricing get pods -l app.kubernetes.io/component=calculation \
    -o jsonpath='{range .items[*]}{.status.containerStatuses[0].ready}{\"\\n\"}{end}' | grep -c true) = 3 ]"
check "the event's budget: pdb/pricing-calculation minAvailable 60% of 3 pods, 1 disruption allowed" \
  eventually 60 s5_budget pricing-calculation 60% 3 1
check "the event's budget: pdb/pricing-api-gateway minAvailable 60% of 1 pod, none allowed" \
  eventually 60 s5_budget pricing-api-gateway 60% 1 0
check "status names the event as the layer that set calculation's budget" \
  bash -c "'$e2e' exec '$cluster' -- kubectl -n pricing get pe pricing \
    -o jsonpath='{.status.components[?(@.name==\"calculation\")].reasons}' | grep -q 'disruption minAvailable=60% by event e2e-maintenance'"
figure "event applied -> budget and floor in force in $((SECONDS - t_event)) s; allowed disruptions: calculation 1 (2 under its own budget), api-gateway 0 ($base_gateway under its own)"

# Two calculation pods and the gateway pod, back to back: the first fits the
# budget, the next two do not.
mapfile -t calc < <(s5_ready_pods calculation)
mapfile -t gw < <(s5_ready_pods api-gateway)
codes=()
if [ "${#calc[@]}" -ge 2 ] && [ "${#gw[@]}" -ge 1 ]; then
  codes=("$(s5_evict "${calc[0]}")" "$(s5_evict "${calc[1]}")" "$(s5_evict "${gw[0]}")")
fi
admitted=0; refused=0
for c in "${codes[@]}"; do
  case $c in 201 | 200) admitted=$((admitted + 1)) ;; 429) refused=$((refused + 1)) ;; esac
done
figure "evictions: calculation ${codes[0]:-none}, calculation ${codes[1]:-none}, api-gateway ${codes[2]:-none}: $admitted admitted, $refused refused (429)"
check "the first calculation eviction is within the budget: admitted (201)" test "${codes[0]:-}" = 201
check "a second calculation eviction exceeds it: refused (429)" test "${codes[1]:-}" = 429
check "the gateway's only pod cannot be evicted: refused (429)" test "${codes[2]:-}" = 429
check "the refusal names the disruption budget" grep -q 'disruption budget' "$work/s5-evict-${calc[1]:-none}.json"
check "the evicted pod is replaced: 3 calculation pods Ready again, the budget allows 1" \
  eventually 120 s5_budget pricing-calculation 60% 3 1

# --- restore -------------------------------------------------------------------
pe_set_spec "$work/s5-spec-fast-down.json"
check "after the event calculation's own budget is back (minAvailable 1)" \
  eventually 60 field_is pricing pdb/pricing-calculation '{.spec.minAvailable}' 1
check "after the event calculation scales back to its floor ($min0 pods)" \
  eventually 120 field_is pricing deployment/pricing-calculation '{.status.replicas}' "$min0"
pe_set_spec "$work/s5-spec-original.json"
check "the PricingEngine is Ready again on its original spec" \
  eventually 120 pe_ready
check "the spec is back as it was" \
  bash -c "'$e2e' exec '$cluster' -- kubectl -n pricing get pe pricing -o json | python3 -c '
import json, sys; sys.exit(0 if json.load(sys.stdin)[\"spec\"] == json.load(open(\"$work/s5-spec-original.json\")) else 1)'"
check "pdb/pricing-calculation allows $base_allowed disruption(s) again" \
  eventually 60 field_is pricing pdb/pricing-calculation '{.status.disruptionsAllowed}' "$base_allowed"
