#!/usr/bin/env bash
# `make bench-operator`: pricing-operator with N PricingEngines (default 1000,
# 3 components each) on a real control plane; see tests/load/operator_bench.py
# for what it measures. Prints the figures and the operator flags used.
#
#   BENCH_ENGINES=1000 BENCH_EDITS=200 scripts/bench-operator.sh
#   BENCH_SKIP_REFERENCE=1 ...   stops after the edits (no reference run)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/scripts/lib/crd.sh"
build=${BUILD_DIR:-$repo/build}
operator=$build/operator/pricing-operator
work=$repo/.bench/operator
[ -x "$operator" ] || { echo "bench-operator: build first (make build)" >&2; exit 1; }
# The client-side limits are raised from their defaults (20 QPS, burst 30) so
# that the API server, not the operator's throttle, sets the pace.
flags=(--workers "${BENCH_WORKERS:-4}" --kube-api-qps "${BENCH_QPS:-1000}" --kube-api-burst "${BENCH_BURST:-2000}")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rm -rf "$work"; mkdir -p "$work"
pid=
cleanup() {
  set +e
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  wait
  "$repo/scripts/cluster.sh" down "$work/cluster" >/dev/null 2>&1
}
trap cleanup EXIT

CLUSTER_HPA_SYNC_PERIOD=15s "$repo/scripts/cluster.sh" up "$work/cluster" >"$work/up.out"
eval "$(tail -n 1 "$work/up.out")"
export PATH=$(. "$work/cluster/state.env"; echo "$bin"):$PATH
kubectl apply --server-side -f "$repo/crds/" >/dev/null
wait_established 60 pricingengines.pricing.borrowrate.io

metrics=$(free_port); health=$(free_port)
"$operator" run --kubeconfig "$KUBECONFIG" --metrics-addr "127.0.0.1:$metrics" \
  --health-addr "127.0.0.1:$health" "${flags[@]}" >"$work/operator.log" 2>&1 &
pid=$!
for _ in $(seq 120); do curl -sf "http://127.0.0.1:$health/readyz" >/dev/null && break; sleep 0.25; done
echo "operator flags: ${flags[*]}"
python3 "$repo/tests/load/operator_bench.py" --cluster "$work/cluster" --operator "$operator" \
  --operator-pid "$pid" --metrics "http://127.0.0.1:$metrics" \
  --engines "${BENCH_ENGINES:-1000}" --edits "${BENCH_EDITS:-200}" \
  ${BENCH_SKIP_REFERENCE:+--skip-reference}
