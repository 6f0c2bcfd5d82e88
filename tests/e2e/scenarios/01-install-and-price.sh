# Scenario 1: install and price. The seed PricingEngine (manifests/overlays/
# e2e/engine) on the cluster: Ready=True must mean rolled out, every pod Running
# and Ready as non-root with a read-only root filesystem, and a price asked
# through the gateway Service's DNS name must equal pricing-engine --data's.
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

check "Ready means rolled out: Deployments updated = available = ready, HPAs ScalingActive" rolled_out

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
# Not through the in_cluster function: `$!` of a backgrounded function is its
# subshell, and killing that left the engine running. e2e.sh exec, nsenter and
# env each exec the next, so this `$!` is the engine itself.
"$e2e" exec "$cluster" -- env -u PRICING_DATABASE_URL -u PRICING_REDIS_URL \
  PRICING_LISTEN="127.0.0.1:$local_port" PRICING_AUDIT_DIR="$work/local-spool" \
  "$engine" serve --data "$repo/examples/data/reference-data.yaml" >"$work/local-engine.log" 2>&1 &
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


# Pod Security admission enforces `restricted` on the engine's namespace (the
# label comes from manifests/engine): a pod that would run as root with
# privilege escalation is refused, with the reason.
check "the namespace enforces Pod Security restricted" \
  test "$(kc get namespace pricing -o 'jsonpath={.metadata.labels.pod-security\.kubernetes\.io/enforce}')" = restricted
if kc -n pricing run psa-probe --image pricing-engine:e2e --restart Never \
  --overrides '{"spec": {"containers": [{"name": "psa-probe", "image": "pricing-engine:e2e",
    "securityContext": {"runAsUser": 0, "allowPrivilegeEscalation": true}}]}}' >"$work/psa.out" 2>&1; then
  fail "Pod Security refuses a root pod in the engine's namespace"
  kc -n pricing delete pod psa-probe --wait=false >/dev/null
else
  check "Pod Security refuses a root pod in the engine's namespace, saying why" \
    grep -q 'violates PodSecurity "restricted' "$work/psa.out"
fi
