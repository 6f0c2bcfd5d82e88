# Scenario 3: custom metrics. Prometheus scrapes the engine pods as
# manifests/monitoring's ServiceMonitor says, prometheus-adapter serves the
# shipped rules through custom.metrics.k8s.io, and the calculation HPA's
# calculations_per_second (the seed's podsMetrics) scales calculation under
# load. The target is lowered from the guide's 700 per pod to 10 for the test
# (a two-core node cannot reach 700), and restored afterwards.
calc_min=$(kc -n pricing get hpa pricing-calculation -o 'jsonpath={.spec.minReplicas}')
calc_ready() { kc -n pricing get deployment pricing-calculation -o 'jsonpath={.status.readyReplicas}'; }
calc_above_min() { [ "$(calc_ready)" -gt "$calc_min" ]; }
calc_at_min() {
  [ "$(kc -n pricing get deployment pricing-calculation -o 'jsonpath={.spec.replicas}/{.status.replicas}')" = "$calc_min/$calc_min" ]
}
check "calculation starts at its minimum of $calc_min" eventually 120 calc_at_min

# per_pod METRIC SELECTOR: every pod the selector names has a value of METRIC
# in the custom metrics API, and it is above zero.
per_pod() {
  local metric=$1 selector=$2
  kc get --raw "/apis/custom.metrics.k8s.io/v1beta2/namespaces/pricing/pods/*/$metric?labelSelector=$selector" |
    python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
def q(v): return float(v[:-1]) / 1000 if v.endswith("m") else float(v)
vals = {i["describedObject"]["name"]: q(i["value"]) for i in items}
print(sys.argv[1], vals)
sys.exit(0 if vals and all(v > 0 for v in vals.values()) else 1)' "$metric" >"$work/custom-$metric.txt"
}
kc -n pricing patch pricingengine pricing --type json -p '[
  {"op": "test", "path": "/spec/components/1/autoscaling/podsMetrics/0/name", "value": "calculations_per_second"},
  {"op": "replace", "path": "/spec/components/1/autoscaling/podsMetrics/0/averageValue", "value": "10"}]' >/dev/null
hpa_target() {
  [ "$(kc -n pricing get hpa pricing-calculation \
    -o 'jsonpath={.spec.metrics[?(@.type=="Pods")].pods.target.averageValue}')" = 10 ]
}
check "the operator sets the calculation HPA's calculations_per_second target" eventually 30 hpa_target

load_secs=90
gw_ip=$(kc -n pricing get service pricing-api-gateway -o 'jsonpath={.spec.clusterIP}')
t_load=$SECONDS
# The internal key's limit (6000 a minute) keeps the load near 100 prices a second.
in_cluster env KEY=internal-ops-key-789 CLIENT=big_fund_007 \
  wrk -t1 -c4 -d${load_secs}s -s "$here/load.lua" "http://$gw_ip:8080" >"$work/wrk-custom.out" 2>&1 &
wrk_pid=$!
selector_calc=app.kubernetes.io/component%3Dcalculation
selector_gw=app.kubernetes.io/component%3Dapi-gateway
check "custom.metrics.k8s.io serves calculations_per_second for each calculation pod" \
  eventually "$load_secs" per_pod calculations_per_second "$selector_calc"
cat "$work/custom-calculations_per_second.txt"
check "custom.metrics.k8s.io serves http_requests_per_second for each gateway pod" \
  eventually 30 per_pod http_requests_per_second "$selector_gw"
cat "$work/custom-http_requests_per_second.txt"
if eventually "$load_secs" calc_above_min; then
  pass "under load the calculation HPA adds pods ($(calc_ready) ready)"
  figure "custom metrics: load start -> first new calculation pod Ready in $((SECONDS - t_load)) s"
else
  fail "under load the calculation HPA adds pods"
  kc -n pricing describe hpa pricing-calculation | tail -n 20
fi
calc_metric_drives() {
  kc -n pricing get events \
    --field-selector involvedObject.kind=HorizontalPodAutoscaler,involvedObject.name=pricing-calculation,reason=SuccessfulRescale \
    -o 'jsonpath={range .items[*]}{.message}{"\n"}{end}' | tee "$work/calc-rescale.txt" |
    grep -q 'pods metric calculations_per_second above target'
}
check "the scale-up is for calculations_per_second" calc_metric_drives
cat "$work/calc-rescale.txt"
kc -n pricing get hpa pricing-calculation -o 'jsonpath={.status.currentMetrics}'; echo
wait "$wrk_pid"
figure "custom metrics load: $(grep -E 'requests in|Requests/sec|Non-2xx' "$work/wrk-custom.out" | tr -s ' ' | paste -sd ';')"

# Back to the overlay's spec; calculation returns to its minimum.
kc apply -k "$repo/manifests/overlays/e2e/engine" >/dev/null
t_end=$SECONDS
if eventually 300 calc_at_min; then
  figure "custom metrics: load end -> calculation back to $calc_min in $((SECONDS - t_end)) s"
else
  fail "after the load calculation scales back down to $calc_min"
fi
