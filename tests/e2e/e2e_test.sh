#!/usr/bin/env bash
# The product on a real one-node cluster (scripts/e2e.sh): the operator and the
# engine as pods from the project's images, installed as the README says.
# One cluster serves every scenario in turn; each prints its figures as
# "FIGURE: ...". Afterwards `down` must leave nothing behind: no network
# namespace, interface, mount, firewall rule, cgroup or process.
#
#   bash tests/e2e/e2e_test.sh PRICING_ENGINE_BINARY WORKDIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
engine=$1
work=$2
. "$here/../cluster/lib.sh"

rm -rf "$work"; mkdir -p "$work"
cluster=$work/cluster
e2e=$repo/scripts/e2e.sh
figure() { echo "FIGURE: $*"; }
in_cluster() { "$e2e" exec "$cluster" -- "$@"; }
kc() { in_cluster kubectl --request-timeout=20s "$@"; }

# host_state: what the host shows of namespaces, interfaces, mounts, firewall
# rules, cgroups and processes that could be the cluster's, for the
# before/after comparison (other work on the machine is filtered out).
own_cgroup=$(awk -F: '$2 == "memory" {print $3}' /proc/self/cgroup)
host_state() {
  echo "## netns"; ip netns list | awk '{print $1}' | grep '^pe2e-' | sort
  echo "## links"; ip -o link show | awk -F': ' '{print $2}' | grep -e '^veth' -e '^cni' -e node0 | sort
  echo "## mounts"; awk '{print $5}' /proc/self/mountinfo | grep -e "$work" -e pe2e- -e '^/run/netns' | sort
  echo "## iptables"; iptables-save 2>/dev/null | grep -v '^#' | sed 's/\[[0-9:]*\]//'
  echo "## nft"; nft list ruleset 2>/dev/null
  echo "## cgroups"
  find /sys/fs/cgroup -mindepth 1 -maxdepth 5 -type d 2>/dev/null |
    grep -e pe2e- ${own_cgroup:+-e "$own_cgroup"} | sort
  echo "## processes"; ps -eo args= | grep -F "$work" | grep -v -e grep -e e2e_test.sh | sort
}
host_state >"$work/host-before.txt"

# --- up ----------------------------------------------------------------------
t0=$SECONDS
if ! "$e2e" up "$cluster" >"$work/up.out" 2>"$work/up.err"; then
  fail "scripts/e2e.sh up brings the cluster up"
  tail -n 60 "$work/up.err"
  "$e2e" down "$cluster" >/dev/null 2>&1
  summary; exit 1
fi
pass "scripts/e2e.sh up: node Ready, DNS answers, the operator holds its lease"
figure "cluster up (binaries and images cached) in $((SECONDS - t0)) s"

check "the operator runs as 2 pods from pricing-operator:e2e" \
  bash -c "[ \"\$('$e2e' exec '$cluster' -- kubectl -n pricing-system get pods \
    -l app.kubernetes.io/name=pricing-operator \
    -o jsonpath='{range .items[*]}{.spec.containers[0].image}{\" \"}{.status.phase}{\"\\n\"}{end}' |
    grep -c '^pricing-operator:e2e Running$')\" = 2 ]"
check "kubectl top pods -A answers (metrics-server)" eventually 120 in_cluster kubectl top pods -A

# --- Scenario 1: install and price -------------------------------------------
echo "## scenario 1: install and price"
"$e2e" secrets "$cluster" pricing >/dev/null 2>"$work/secrets.err" || { cat "$work/secrets.err"; }
t_apply=$SECONDS
kc apply -k "$repo/manifests/overlays/e2e/engine" >/dev/null
if in_cluster kubectl -n pricing wait --for=condition=Ready pricingengine/pricing --timeout=600s >/dev/null; then
  pass "the PricingEngine reports Ready=True"
  figure "apply -> Ready in $((SECONDS - t_apply)) s"
else
  fail "the PricingEngine reports Ready=True"
  kc -n pricing get pricingengine pricing -o yaml | sed -n '/^status:/,$p'
  kc -n pricing get pods -o wide
fi

# rolled_out: every Deployment's rollout is complete and every HPA can scale.
rolled_out() {
  kc -n pricing get deployments,hpa -o json | python3 -c '
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
check "Ready means rolled out: Deployments updated = available = ready, HPAs ScalingActive" rolled_out

all_pods_ready() {
  kc -n pricing get pods -o json | python3 -c '
import json, sys
pods = json.load(sys.stdin)["items"]
bad = [p["metadata"]["name"] for p in pods if p["status"].get("phase") != "Running" or
       not all(c.get("ready") for c in p["status"].get("containerStatuses", [{}]))]
print(len(pods), "pods;", "not ready:", bad)
sys.exit(1 if bad or not pods else 0)'
}
check "every engine pod is Running and Ready" all_pods_ready
check "engine pods run as non-root with a read-only root filesystem" \
  bash -c "'$e2e' exec '$cluster' -- kubectl -n pricing get pods -o json | python3 -c '
import json, sys
for p in json.load(sys.stdin)[\"items\"]:
    for c in p[\"spec\"][\"containers\"]:
        sc = c.get(\"securityContext\", {})
        assert sc.get(\"readOnlyRootFilesystem\") is True, p[\"metadata\"][\"name\"]
        assert c[\"image\"] == \"pricing-engine:e2e\", c[\"image\"]
'"

# The same request through the gateway Service's DNS name (resolved by the
# cluster's CoreDNS, routed by kube-proxy) and to `pricing-engine --data` on
# the same reference data: the prices must agree to the cent.
query='ticker=GME&position_value=100000&loan_days=30&client_id=big_fund_007'
gateway=pricing-api-gateway.pricing.svc.cluster.local
gateway_ip=$(in_cluster python3 "$repo/scripts/e2e/dns_query.py" 10.77.96.10 "$gateway")
check "$gateway resolves through the cluster DNS ($gateway_ip)" test -n "$gateway_ip"
gateway_port=$(kc -n pricing get service pricing-api-gateway -o 'jsonpath={.spec.ports[0].port}')
in_cluster curl -s --max-time 10 --resolve "$gateway:$gateway_port:$gateway_ip" -H 'X-API-Key: demo-key-123' \
  "http://$gateway:$gateway_port/api/v1/calculate-locate?$query" >"$work/price-cluster.json"
local_port=18181
in_cluster env -u PRICING_DATABASE_URL -u PRICING_REDIS_URL PRICING_LISTEN="127.0.0.1:$local_port" \
  PRICING_AUDIT_DIR="$work/local-spool" "$engine" serve --data "$repo/examples/data/reference-data.yaml" \
  >"$work/local-engine.log" 2>&1 &
local_pid=$!
eventually 20 in_cluster curl -sf "http://127.0.0.1:$local_port/health/ready"
in_cluster curl -s --max-time 10 -H 'X-API-Key: demo-key-123' \
  "http://127.0.0.1:$local_port/api/v1/calculate-locate?$query" >"$work/price-local.json"
kill -TERM "$local_pid" 2>/dev/null; wait "$local_pid" 2>/dev/null
same_price() {
  python3 - "$work/price-cluster.json" "$work/price-local.json" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
keys = ("status", "ticker", "client_id", "total_fee", "breakdown", "borrow_rate_used", "day_count", "sources")
print("cluster:", {k: a.get(k) for k in keys})
print("local:  ", {k: b.get(k) for k in keys})
sys.exit(0 if a.get("status") == "success" and all(a.get(k) == b.get(k) for k in keys) else 1)
PY
}
check "a price through the gateway's DNS name equals pricing-engine --data's, to the cent" same_price

# --- down --------------------------------------------------------------------
t_down=$SECONDS
"$e2e" down "$cluster" >"$work/down.out" 2>&1 || { fail "scripts/e2e.sh down"; cat "$work/down.out"; }
figure "down in $((SECONDS - t_down)) s"
host_state >"$work/host-after.txt"
if diff -u "$work/host-before.txt" "$work/host-after.txt" >"$work/host.diff"; then
  pass "down leaves no namespace, interface, mount, firewall rule, cgroup or process behind"
else
  fail "down leaves no namespace, interface, mount, firewall rule, cgroup or process behind"
  cat "$work/host.diff"
fi
check "down removes the cluster's directory" test ! -e "$cluster"
summary
