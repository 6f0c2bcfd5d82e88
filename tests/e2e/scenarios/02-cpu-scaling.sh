# Scenario 2: CPU scaling. wrk loads the gateway Service from inside the
# cluster's namespace for a bounded time; the gateway's HPA scales it up on
# metrics-server's CPU figures, and once the load stops it scales back down as
# the (shortened, see manifests/overlays/e2e/engine) behaviour says.
gw_ip=$(kc -n pricing get service pricing-api-gateway -o 'jsonpath={.spec.clusterIP}')
gw_min=$(kc -n pricing get hpa pricing-api-gateway -o 'jsonpath={.spec.minReplicas}')
gw_ready() { kc -n pricing get deployment pricing-api-gateway -o 'jsonpath={.status.readyReplicas}'; }
gw_above_min() { [ "$(gw_ready)" -gt "$gw_min" ]; }
gw_at_min() {
  [ "$(kc -n pricing get deployment pricing-api-gateway -o 'jsonpath={.spec.replicas}/{.status.replicas}')" = "$gw_min/$gw_min" ]
}
check "the gateway starts at its minimum of $gw_min" eventually 120 gw_at_min

load_secs=60
t_load=$SECONDS
in_cluster env KEY=quant-key-2468 CLIENT=quant_capital \
  wrk -t2 -c16 -d${load_secs}s -s "$here/load.lua" "http://$gw_ip:8080" >"$work/wrk-cpu.out" 2>&1 &
wrk_pid=$!
if eventually "$load_secs" gw_above_min; then
  pass "under load the gateway's HPA adds pods on CPU ($(gw_ready) ready)"
  figure "CPU scaling: load start -> first new gateway pod Ready in $((SECONDS - t_load)) s"
else
  fail "under load the gateway's HPA adds pods on CPU"
  kc -n pricing describe hpa pricing-api-gateway | tail -n 20
fi
wait "$wrk_pid"
t_end=$SECONDS
# Most answers are 429: the client's limit is 1200 a minute, and refusing is
# work too. The figure says how much of each.
figure "CPU scaling load: $(grep -E 'requests in|Requests/sec|Non-2xx' "$work/wrk-cpu.out" | tr -s ' ' | paste -sd ';')"
check "the HPA's scale-up names CPU" bash -c "'$e2e' exec '$cluster' -- kubectl -n pricing get events \
  --field-selector involvedObject.kind=HorizontalPodAutoscaler,involvedObject.name=pricing-api-gateway,reason=SuccessfulRescale \
  -o jsonpath='{range .items[*]}{.message}{\"\\n\"}{end}' | grep -q 'cpu resource utilization'"
if eventually 240 gw_at_min; then
  pass "after the load the gateway scales back down to $gw_min"
  figure "CPU scaling: load end -> scaled down to $gw_min in $((SECONDS - t_end)) s"
else
  fail "after the load the gateway scales back down to $gw_min"
  kc -n pricing describe hpa pricing-api-gateway | tail -n 20
fi
