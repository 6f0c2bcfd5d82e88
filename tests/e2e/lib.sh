# Helpers for the e2e scenarios (tests/e2e/scenarios/*.sh), which e2e_test.sh
# sources in order into one shell: $repo, $work, $cluster, $e2e and $engine are
# set, and tests/cluster/lib.sh's pass/fail/check/eventually are loaded.

figure() { echo "FIGURE: $*"; }
in_cluster() { "$e2e" exec "$cluster" -- "$@"; }
kc() { in_cluster kubectl --request-timeout=20s "$@"; }

# rolled_out [NAMESPACE]: every Deployment's rollout is complete and every HPA can scale.
rolled_out() {
  kc -n "${1:-pricing}" get deployments,hpa -o json | python3 -c '
import json, sys
bad = []
for o in json.load(sys.stdin)["items"]:
    n, s = o["metadata"]["name"], o.get("status", {})
    if o["kind"] == "Deployment":
        want = s.get("replicas", 0)
        if o["metadata"]["generation"] != s.get("observedGeneration") or want == 0 or \
           not s.get("updatedReplicas") == s.get("availableReplicas") == s.get("readyReplicas") == want:
            bad.append(f"deployment {n}: {s}")
    else:
        c = {x["type"]: x["status"] for x in s.get("conditions", [])}
        if c.get("AbleToScale") != "True" or c.get("ScalingActive") != "True":
            bad.append(f"hpa {n}: {c}")
print("\n".join(bad))
sys.exit(1 if bad else 0)'
}
# all_pods_ready [NAMESPACE]: every pod is Running and all its containers Ready.
all_pods_ready() {
  kc -n "${1:-pricing}" get pods -o json | python3 -c '
import json, sys
pods = json.load(sys.stdin)["items"]
bad = [p["metadata"]["name"] for p in pods if p["status"].get("phase") != "Running" or
       not all(c.get("ready") for c in p["status"].get("containerStatuses", [{}]))]
print(len(pods), "pods;", "not ready:", bad)
sys.exit(1 if bad or not pods else 0)'
}

# field NAMESPACE OBJECT JSONPATH: one field of an object, empty if it is missing.
field() { kc -n "$1" get "$2" -o "jsonpath=$3" 2>/dev/null; }
# field_is NAMESPACE OBJECT JSONPATH VALUE: the field equals VALUE.
field_is() { [ "$(field "$1" "$2" "$3")" = "$4" ]; }

# pe_set_spec FILE: the PricingEngine pricing's spec becomes FILE's JSON
# (scenarios save the spec first and put it back this way).
pe_set_spec() {
  python3 -c 'import json, sys; print(json.dumps([{"op": "replace", "path": "/spec", "value": json.load(open(sys.argv[1]))}]))' \
    "$1" >"$1.patch"
  kc -n pricing patch pricingengine pricing --type json --patch-file "$1.patch" >/dev/null
}
# pe_ready: Ready=True for the PricingEngine pricing's current generation.
pe_ready() {
  kc -n pricing get pricingengine pricing -o json | python3 -c '
import json, sys
o = json.load(sys.stdin); g, s = o["metadata"]["generation"], o.get("status", {})
sys.exit(0 if s.get("observedGeneration") == g and any(c["type"] == "Ready" and c["status"] == "True" and
         c.get("observedGeneration", g) == g for c in s.get("conditions", [])) else 1)'
}
# pe_save_spec PREFIX: the PricingEngine pricing's spec as
# $work/PREFIX-spec-original.json, and as PREFIX-spec-fast-down.json with
# calculation's scale-down window at 0, which brings calculation back to its
# floor quickly before the original spec returns.
pe_save_spec() {
  kc -n pricing get pricingengine pricing -o json | python3 -c '
import json, sys
w, p = sys.argv[1], sys.argv[2]
spec = json.load(sys.stdin)["spec"]
json.dump(spec, open(f"{w}/{p}-spec-original.json", "w"))
calc = next(c for c in spec["components"] if c["name"] == "calculation")
calc.setdefault("autoscaling", {}).setdefault("behavior", {}).setdefault("scaleDown", {})["stabilizationWindowSeconds"] = 0
json.dump(spec, open(f"{w}/{p}-spec-fast-down.json", "w"))' "$work" "$1"
}
