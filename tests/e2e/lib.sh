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
