# Shared helpers for cluster test scripts: assertions, polling and a summary
# line ("N passed, N failed") that CTest logs show.
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib/crd.sh"

passed=0
failed=0
failures=()

pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); failures+=("$*"); echo "FAIL: $*"; }

# check NAME COMMAND...: runs COMMAND, records pass or fail.
check() {
  local name=$1; shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}

# eventually SECONDS COMMAND...: true once COMMAND succeeds within SECONDS.
eventually() {
  local secs=$1; shift
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.25
  done
}

summary() {
  echo
  for f in "${failures[@]}"; do echo "failed: $f"; done
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# operator_cluster_up: for the operator's cluster tests. Starts a control plane
# in $work/cluster (the caller sets $repo and $work), puts its binaries on
# PATH, exports KUBECONFIG, installs the CRD, and defines k (kubectl with a
# request timeout) and jp OBJECT JSONPATH (in namespace $ns, default
# "default"). At exit, every PID in the array `pids` gets SIGTERM and the
# control plane is stopped. Exits with a summary when the cluster cannot start.
operator_cluster_up() {
  rm -rf "$work"; mkdir -p "$work"
  pids=()
  trap operator_cluster_down EXIT
  if ! "$repo/scripts/cluster.sh" up "$work/cluster" >"$work/up.out"; then
    fail "cluster comes up"; tail -n 30 "$work"/cluster/logs/*.log; summary; exit 1
  fi
  eval "$(tail -n 1 "$work/up.out")"
  PATH=$(. "$work/cluster/state.env"; echo "$bin"):$PATH
  export PATH
  k apply --server-side -f "$repo/crds/" >/dev/null
  wait_established 60 pricingengines.pricing.borrowrate.io
}
operator_cluster_down() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  "$repo/scripts/cluster.sh" down "$work/cluster" >/dev/null 2>&1
}
k() { kubectl --request-timeout=20s "$@"; }
jp() { k get "$1" -n "${ns:-default}" -o jsonpath="$2" 2>/dev/null; }
