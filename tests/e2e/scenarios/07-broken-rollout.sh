# Scenario 7: a broken rollout is not Ready. spec.image names a tag that no
# node has and no registry can serve (the cluster has no way out): every
# Deployment's surge pod stays in ErrImagePull/ImagePullBackOff while the old
# pods keep serving. Well within the Deployments' progress deadline the
# PricingEngine must report Ready=False (or Degraded=True) for its current
# generation, with a message naming a component, and `kubectl wait
# --for=condition=Ready` must fail. Then the image is restored and the
# PricingEngine rolls back to Ready=True.

s7_pe_json() { kc -n pricing get pricingengine pricing -o json; }
# s7_state WANT: prints "Ready=S Degraded=S REASON: MESSAGE" from the
# conditions of the current generation (status.observedGeneration and the
# conditions' own); true when that state is WANT: "ready" (Ready=True) or
# "not-ready" (Ready=False or Degraded=True).
s7_state() {
  s7_pe_json | python3 -c '
import json, sys
o = json.load(sys.stdin)
g, st = o["metadata"]["generation"], o.get("status", {})
c = {x["type"]: x for x in st.get("conditions", [])}
r, d = c.get("Ready", {}), c.get("Degraded", {})
bad = r.get("status") == "False" or d.get("status") == "True"
why = r if r.get("status") == "False" else d if d.get("status") == "True" else r
print("Ready=%s Degraded=%s %s: %s" % (r.get("status"), d.get("status"), why.get("reason"), why.get("message")))
current = st.get("observedGeneration") == g and all(x.get("observedGeneration", g) == g for x in (r, d))
sys.exit(0 if current and bad == (sys.argv[1] == "not-ready") else 1)' "$1"
}
s7_not_ready() { s7_state not-ready >"$work/s7-not-ready.txt"; }
s7_ready() { s7_state ready >/dev/null; }
# s7_pull_failed: some pod waits with ErrImagePull or ImagePullBackOff. The
# node has no resolver for the registry's name, so a pull fails only when its
# DNS lookup times out (about 50 s); polled every 2 s.
s7_pull_failed() {
  kc -n pricing get pods -o jsonpath='{range .items[*]}{.status.containerStatuses[0].state.waiting.reason}{"\n"}{end}' |
    grep -cE 'ErrImagePull|ImagePullBackOff' >"$work/s7-waiting.txt"
  [ "$(cat "$work/s7-waiting.txt")" -ge 1 ] || { sleep 2; return 1; }
}
s7_price() {  # a price through the gateway Service answers 200
  local ip port
  ip=$(kc -n pricing get service pricing-api-gateway -o 'jsonpath={.spec.clusterIP}')
  port=$(kc -n pricing get service pricing-api-gateway -o 'jsonpath={.spec.ports[0].port}')
  [ "$(in_cluster curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'X-API-Key: demo-key-123' \
    "http://$ip:$port/api/v1/calculate-locate?ticker=GME&position_value=1000&loan_days=5&client_id=big_fund_007")" = 200 ]
}

rm -f "$work"/s7-*
s7_pe_json >"$work/s7-pe.json"
image0=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["spec"]["image"])' "$work/s7-pe.json")
deadline=$(kc -n pricing get deployment pricing-calculation -o 'jsonpath={.spec.progressDeadlineSeconds}')
broken=pricing-engine:e2e-no-such-tag
t_break=$SECONDS
kc -n pricing patch pricingengine pricing --type json \
  -p "[{\"op\": \"replace\", \"path\": \"/spec/image\", \"value\": \"$broken\"}]" >/dev/null
if eventually "${deadline:-600}" s7_not_ready; then
  figure "spec.image -> $broken: Ready=False reported after $((SECONDS - t_break)) s (progress deadline ${deadline:-?} s)"
  pass "within the progress deadline the PricingEngine is not Ready ($(cat "$work/s7-not-ready.txt"))"
  check "the message names a component" \
    grep -Eq 'api-gateway|calculation|data|cache|audit' "$work/s7-not-ready.txt"
else
  fail "within the progress deadline (${deadline:-600} s) the PricingEngine reports Ready=False or Degraded=True"
  s7_pe_json | sed -n '/"conditions"/,/]/p'
fi
check "kubectl wait --for=condition=Ready fails (20 s)" \
  eval "! in_cluster kubectl -n pricing wait --for=condition=Ready pricingengine/pricing --timeout=20s >/dev/null 2>&1"
check "the Deployments carry the broken image" \
  bash -c "[ \"\$('$e2e' exec '$cluster' -- kubectl -n pricing get deployment pricing-calculation \
    -o jsonpath='{.spec.template.spec.containers[0].image}')\" = '$broken' ]"
if eventually 180 s7_pull_failed; then
  pass "the new pods cannot pull the image (ErrImagePull or ImagePullBackOff)"
  figure "pods waiting on the image: $(cat "$work/s7-waiting.txt"), seen $((SECONDS - t_break)) s after the change"
else
  fail "the new pods cannot pull the image (ErrImagePull or ImagePullBackOff)"
fi
check "while they wait the PricingEngine is still not Ready" s7_not_ready
check "the old pods keep serving: a price through the gateway Service answers 200" s7_price

# --- restore -------------------------------------------------------------------
t_fix=$SECONDS
kc -n pricing patch pricingengine pricing --type json \
  -p "[{\"op\": \"replace\", \"path\": \"/spec/image\", \"value\": \"$image0\"}]" >/dev/null
if eventually 300 s7_ready; then
  pass "with the image restored the PricingEngine is Ready=True again"
  figure "spec.image restored -> Ready=True after $((SECONDS - t_fix)) s"
else
  fail "with the image restored the PricingEngine is Ready=True again"
  s7_state ready
fi
check "Ready means rolled out again: Deployments updated = available = ready, HPAs ScalingActive" rolled_out
check "every engine pod is Running and Ready" eventually 120 all_pods_ready
check "the spec is back as it was" \
  bash -c "'$e2e' exec '$cluster' -- kubectl -n pricing get pe pricing -o json | python3 -c '
import json, sys; sys.exit(0 if json.load(sys.stdin)[\"spec\"] == json.load(open(\"$work/s7-pe.json\"))[\"spec\"] else 1)'"
