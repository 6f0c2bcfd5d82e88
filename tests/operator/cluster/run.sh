#!/usr/bin/env bash
# Runs a GoogleTest program against a real control plane of its own:
#   bash tests/operator/cluster/run.sh PROGRAM WORKDIR [gtest args...]
# Brings a cluster up in WORKDIR/cluster (scripts/cluster.sh), applies crds/,
# exports KUBECONFIG and PATH (kubectl of the same version), runs PROGRAM, and
# takes the cluster down whatever happens. The exit status is PROGRAM's.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
. "$repo/scripts/lib/crd.sh"
program=$1; work=$2; shift 2
rm -rf "$work"; mkdir -p "$work"
trap '"$repo/scripts/cluster.sh" down "$work/cluster" >/dev/null 2>&1' EXIT
if ! "$repo/scripts/cluster.sh" up "$work/cluster" >"$work/up.out"; then
  echo "FAIL: the cluster did not come up" >&2
  tail -n 30 "$work"/cluster/logs/*.log >&2
  exit 1
fi
eval "$(tail -n 1 "$work/up.out")"
PATH=$(. "$work/cluster/state.env"; echo "$bin"):$PATH
export PATH KUBECONFIG PRICING_TEST_WORK=$work
kubectl apply --server-side -f "$repo/crds/" >/dev/null &&
  wait_established 60 pricingengines.pricing.borrowrate.io || { echo "FAIL: the CRD" >&2; exit 1; }
"$program" "$@"
