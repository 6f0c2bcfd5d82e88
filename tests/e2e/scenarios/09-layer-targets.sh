# Scenario 9: a regime's per-component targets on a real node. The guide's
# "VIX > 30: kubectl patch hpa pricing-calculation ... CPU 60%" as policy: a
# regime that lowers calculation's CPU target and gives it a memory target
# reaches calculation's HPA alone; the HPA controller reads the memory
# utilization from metrics-server for it; when the regime ends, both targets
# go back by themselves. The e2e install has no volatility policy, so the
# scenario adds one with a fixed reading and removes it at the end.
# hpa_target COMPONENT RESOURCE: the HPA's utilization target for cpu or
# memory, empty when it has no such metric.
hpa_target() {
  kc -n pricing get hpa "pricing-$1" \
    -o "jsonpath={.spec.metrics[?(@.resource.name==\"$2\")].resource.target.averageUtilization}"
}
calc_cpu_base=$(hpa_target calculation cpu)
gw_cpu_base=$(hpa_target api-gateway cpu)
check "before the regime calculation has a CPU target ($calc_cpu_base) and no memory target" \
  test -n "$calc_cpu_base" -a -z "$(hpa_target calculation memory)"

kc -n pricing patch pricingengine pricing --type merge -p '{"spec": {"volatility": {
  "source": {"value": 35}, "pollInterval": "15s", "minHold": "0s",
  "regimes": [{"name": "High", "enterAbove": 30, "exitBelow": 27,
               "targetCPUUtilizationPercentage": {"calculation": 60},
               "targetMemoryUtilizationPercentage": {"calculation": 90}}]}}}' >/dev/null
calc_regime_targets() {
  [ "$(hpa_target calculation cpu)/$(hpa_target calculation memory)" = 60/90 ]
}
check "regime High sets calculation's HPA to CPU 60 % and memory 90 %" \
  eventually 60 calc_regime_targets
check "api-gateway's HPA keeps its own CPU target ($gw_cpu_base) and gets no memory metric" \
  test "$(hpa_target api-gateway cpu)/$(hpa_target api-gateway memory)" = "$gw_cpu_base/"
status_names_the_regime() {
  kc -n pricing get pe pricing -o 'jsonpath={.status.components[?(@.name=="calculation")].reasons}' |
    grep -q 'targetMemory=90 by regime High'
}
check "status says which layer set calculation's memory target" eventually 30 status_names_the_regime
memory_measured() {
  local v
  v=$(kc -n pricing get hpa pricing-calculation \
    -o 'jsonpath={.status.currentMetrics[?(@.resource.name=="memory")].resource.current.averageUtilization}')
  [ -n "$v" ] && echo "$v" >"$work/calc-memory-utilization.txt"
}
if eventually 120 memory_measured; then
  pass "the HPA controller reads calculation's memory utilization from metrics-server ($(cat "$work/calc-memory-utilization.txt") % of the request)"
else
  fail "the HPA controller reads calculation's memory utilization from metrics-server"
  kc -n pricing describe hpa pricing-calculation | tail -n 20
fi

kc -n pricing patch pricingengine pricing --type json -p '[{"op": "remove", "path": "/spec/volatility"}]' >/dev/null
calc_base_again() {
  [ "$(hpa_target calculation cpu)/$(hpa_target calculation memory)" = "$calc_cpu_base/" ]
}
check "without the regime calculation's targets are back to base" eventually 60 calc_base_again
