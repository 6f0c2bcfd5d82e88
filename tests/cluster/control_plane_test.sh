#!/usr/bin/env bash
# The test control plane behaves like a real cluster: server-side apply works,
# kube-controller-manager runs the deployment, replicaset, garbage-collector, HPA
# and namespace controllers, two clusters can run side by side, and `down`
# leaves no process behind.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${1:-$(mktemp -d)}
. "$here/lib.sh"

a=$work/a
b=$work/b
rm -rf "$work"; mkdir -p "$work"
cleanup() { "$repo/scripts/cluster.sh" down "$a" >/dev/null 2>&1; "$repo/scripts/cluster.sh" down "$b" >/dev/null 2>&1; }
trap cleanup EXIT

start=$(date +%s.%N)
if ! "$repo/scripts/cluster.sh" up "$a" >"$work/up-a.out"; then
  fail "cluster a comes up"; tail -n 30 "$a"/logs/*.log; summary; exit 1
fi
echo "cluster a up in $(echo "$(date +%s.%N) - $start" | bc) s"
pass "cluster a comes up"
eval "$(tail -n 1 "$work/up-a.out")"
bin=$(. "$a/state.env"; echo "$bin")
export PATH=$bin:$PATH
k() { kubectl --request-timeout=20s "$@"; }

check "readyz answers ok" bash -c "kubectl get --raw /readyz | grep -qx ok"

# Server-side apply of a Deployment; the deployment controller creates its ReplicaSet.
k create namespace cp-test >/dev/null
k apply --server-side --field-manager=cluster-test -n cp-test -f "$here/testdata/deployment.yaml" >/dev/null
check "server-side apply creates the Deployment" \
  bash -c "kubectl get deploy -n cp-test web -o jsonpath='{.metadata.managedFields[0].manager}' | grep -qx cluster-test"
rs_owned() {
  kubectl get rs -n cp-test -o jsonpath='{.items[*].metadata.ownerReferences[0].name}' | grep -qw web
}
check "kube-controller-manager creates the ReplicaSet" eventually 30 rs_owned

# Garbage collection: a ConfigMap owned by the Deployment goes when the Deployment goes.
uid=$(k get deploy -n cp-test web -o jsonpath='{.metadata.uid}')
sed "s/OWNER_UID/$uid/" "$here/testdata/owned-configmap.yaml" | k apply -n cp-test -f - >/dev/null
check "owned ConfigMap exists" k get configmap -n cp-test owned-by-web
k delete deploy -n cp-test web --wait=false >/dev/null
cm_gone() { ! kubectl get configmap -n cp-test owned-by-web >/dev/null 2>&1; }
check "deleting the owner garbage-collects the owned ConfigMap" eventually 60 cm_gone

# HPA: minReplicas 4 on a 1-replica Deployment is corrected without a metrics server.
k apply --server-side --field-manager=cluster-test -n cp-test -f "$here/testdata/hpa-deployment.yaml" >/dev/null
scaled() { [ "$(kubectl get deploy -n cp-test scaled -o jsonpath='{.spec.replicas}')" = 4 ]; }
hpa_start=$(date +%s.%N)
if eventually 60 scaled; then
  pass "the HPA controller raises the Deployment to minReplicas 4"
  echo "HPA correction took $(echo "$(date +%s.%N) - $hpa_start" | bc) s"
else
  fail "the HPA controller raises the Deployment to minReplicas 4"
  k describe hpa -n cp-test scaled | tail -n 20
fi

# A second cluster in another directory runs at the same time.
if "$repo/scripts/cluster.sh" up "$b" >"$work/up-b.out"; then
  check "a second cluster answers alongside the first" \
    bash -c "KUBECONFIG=$b/kubeconfig kubectl get --raw /readyz | grep -qx ok && kubectl get --raw /readyz | grep -qx ok"
  check "the clusters are separate" \
    bash -c "! KUBECONFIG=$b/kubeconfig kubectl get namespace cp-test >/dev/null 2>&1"
else
  fail "a second cluster comes up"
fi

# Client-certificate authentication works as well as tokens.
check "client certificate kubeconfig authenticates" \
  bash -c "KUBECONFIG=$a/kubeconfig-cert kubectl auth can-i '*' '*' | grep -qx yes"

# Namespace deletion finishes (the namespace controller empties it).
k delete namespace cp-test --wait=false >/dev/null
ns_gone() { ! kubectl get namespace cp-test >/dev/null 2>&1; }
check "the namespace deletes cleanly" eventually 90 ns_gone

# down stops exactly what up started and removes the directory.
pids=$(cat "$a"/pids/*.pid "$b"/pids/*.pid)
"$repo/scripts/cluster.sh" down "$a" >/dev/null 2>&1
"$repo/scripts/cluster.sh" down "$b" >/dev/null 2>&1
no_process_left() { for p in $pids; do [ ! -d "/proc/$p" ] || return 1; done; }
check "down leaves no process behind" eventually 10 no_process_left
check "down removes the state directory" bash -c "[ ! -e '$a' ] && [ ! -e '$b' ]"

summary
