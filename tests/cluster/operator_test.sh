#!/usr/bin/env bash
# pricing-operator against a real control plane (etcd, kube-apiserver,
# kube-controller-manager): children created with owner references and
# managed fields; edits to the CR reach them; a deleted or hand-edited child
# is put back; the HPA's replica count is never undone; deleting the CR
# garbage-collects everything; invalid CRs are refused by the API server or
# reported as SpecValid=False with an Event; two operators with leader
# election, one of them killed with -9; the API server restarted mid-watch.
#
#   bash tests/cluster/operator_test.sh PRICING_OPERATOR_BINARY [WORKDIR]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
operator=$1
work=${2:-$(mktemp -d)}
. "$here/lib.sh"

operator_cluster_up
quiet() { "$@" >/dev/null 2>&1; }

# start_operator NAME ARGS...: runs the operator in the background, logs to
# $work/NAME.log, its PID in $work/NAME.pid.
start_operator() {
  local name=$1; shift
  "$operator" run --kubeconfig "$KUBECONFIG" "$@" >"$work/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid"); echo "$pid" >"$work/$name.pid"
}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- One operator, no leader election -----------------------------------------
ns=desk
k create namespace $ns >/dev/null
m1=$(port); h1=$(port)
start_operator op1 --metrics-addr "127.0.0.1:$m1" --health-addr "127.0.0.1:$h1"
check "the operator becomes ready (caches listed)" \
  eventually 30 curl -sf "http://127.0.0.1:$h1/readyz"
check "/healthz answers ok" bash -c "curl -sf http://127.0.0.1:$h1/healthz | grep -qx ok"

k apply -n $ns -f "$repo/examples/pricingengine-minimal.yaml" >/dev/null
children="deployment/minimal-api service/minimal-api hpa/minimal-api pdb/minimal-api
deployment/minimal-calculation service/minimal-calculation hpa/minimal-calculation pdb/minimal-calculation"
all_children_exist() { for c in $children; do k get -n $ns "$c" >/dev/null 2>&1 || return 1; done; }
check "every child is created" eventually 30 all_children_exist
uid=$(jp pe/minimal '{.metadata.uid}')
owned() {
  for c in $children; do
    [ "$(jp "$c" '{.metadata.ownerReferences[0].uid}/{.metadata.ownerReferences[0].controller}')" = "$uid/true" ] || return 1
  done
}
check "every child is owned by the PricingEngine (controller=true)" owned
managed() {
  for c in $children; do
    jp "$c" '{.metadata.managedFields[*].manager}' | grep -qw pricing-operator || return 1
    [ "$(jp "$c" '{.metadata.labels.app\.kubernetes\.io/managed-by}')" = pricing-operator ] || return 1
  done
}
check "every child is applied by field manager pricing-operator and labelled" managed
check "the HPA carries the base bounds (2..6)" \
  test "$(jp hpa/minimal-api '{.spec.minReplicas}..{.spec.maxReplicas}')" = "2..6"
check "pods run as non-root with a read-only root file system" \
  test "$(jp deployment/minimal-api '{.spec.template.spec.securityContext.runAsNonRoot}/{.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem}')" = "true/true"
status_ok() { [ "$(jp pe/minimal '{.status.observedGeneration}')" = "$(jp pe/minimal '{.metadata.generation}')" ]; }
check "status.observedGeneration catches up with the spec" eventually 20 status_ok
check "status says SpecValid=True" \
  test "$(jp pe/minimal '{.status.conditions[?(@.type=="SpecValid")].status}')" = True
check "status lists both components with their bounds" \
  test "$(jp pe/minimal '{.status.components[*].name}:{.status.components[1].minReplicas}')" = "api calculation:1"

# The HPA controller (kube-controller-manager) owns spec.replicas: it raises the
# Deployment to minReplicas, and the operator never takes that back.
hpa_scaled() { [ "$(jp deployment/minimal-api '{.spec.replicas}')" = 2 ]; }
check "kube-controller-manager's HPA controller scales the Deployment to minReplicas" \
  eventually 60 hpa_scaled
check "spec.replicas is not among the operator's managed fields" \
  bash -c "! kubectl get -n $ns deployment/minimal-api --show-managed-fields -o json | python3 -c '
import json,sys
d=json.load(sys.stdin)
for m in d[\"metadata\"][\"managedFields\"]:
    if m[\"manager\"]==\"pricing-operator\" and \"f:replicas\" in m.get(\"fieldsV1\",{}).get(\"f:spec\",{}):
        sys.exit(0)
sys.exit(1)'"

# Editing the CR reaches the children.
k patch -n $ns pe/minimal --type=json -p '[{"op":"replace","path":"/spec/components/0/replicas/max","value":9}]' >/dev/null
check "editing the CR updates the HPA (max 6 -> 9)" \
  eventually 20 bash -c "[ \"\$(kubectl get -n $ns hpa/minimal-api -o jsonpath='{.spec.maxReplicas}')\" = 9 ]"
check "the HPA-set replica count survives the CR edit" \
  test "$(jp deployment/minimal-api '{.spec.replicas}')" = 2

# A deleted child is recreated; a hand-edited one is put back.
old_uid=$(jp service/minimal-calculation '{.metadata.uid}')
k delete -n $ns service/minimal-calculation >/dev/null
recreated() { local u; u=$(jp service/minimal-calculation '{.metadata.uid}'); [ -n "$u" ] && [ "$u" != "$old_uid" ]; }
check "a deleted Service is recreated" eventually 20 recreated
k patch -n $ns hpa/minimal-api --type=merge -p '{"spec":{"minReplicas":1}}' >/dev/null
put_back() { [ "$(jp hpa/minimal-api '{.spec.minReplicas}')" = 2 ]; }
check "an HPA edited by hand (minReplicas 2 -> 1) is put back" eventually 20 put_back
k patch -n $ns pdb/minimal-api --type=merge -p '{"spec":{"maxUnavailable":3}}' >/dev/null
pdb_back() { [ "$(jp pdb/minimal-api '{.spec.maxUnavailable}')" = 1 ]; }
check "a PDB edited by hand is put back" eventually 20 pdb_back

# Invalid input: the schema and CEL refuse at the door; what only the operator
# can check becomes SpecValid=False and a Warning Event naming the field.
if k apply -n $ns -f "$repo/examples/invalid/replicas-min-above-max.yaml" >"$work/invalid.out" 2>&1; then
  fail "a CEL-invalid CR is refused by kubectl"
else
  check "a CEL-invalid CR is refused by kubectl with a message" grep -q "min" "$work/invalid.out"
fi
cat >"$work/bad-zone.yaml" <<'YAML'
apiVersion: pricing.borrowrate.io/v1alpha1
kind: PricingEngine
metadata: {name: badzone}
spec:
  image: registry.example.com/pricing-engine:1.0.0
  components: [{name: api, replicas: {min: 1, max: 2}}]
  marketHours: {timeZone: Mars/Olympus_Mons}
YAML
k apply -n $ns -f "$work/bad-zone.yaml" >/dev/null
spec_invalid() {
  [ "$(jp pe/badzone '{.status.conditions[?(@.type=="SpecValid")].status}')" = False ] &&
    jp pe/badzone '{.status.conditions[?(@.type=="SpecValid")].message}' | grep -q 'spec.marketHours.timeZone'
}
check "an unknown time zone gives SpecValid=False naming spec.marketHours.timeZone" eventually 20 spec_invalid
invalid_event() {
  k get events.events.k8s.io -n $ns --field-selector regarding.name=badzone -o jsonpath='{.items[*].reason}:{.items[*].note}' |
    grep -q 'InvalidSpec.*spec.marketHours.timeZone'
}
check "a Warning Event InvalidSpec names the field" eventually 20 invalid_event
check "no child is created for the invalid CR" bash -c "! kubectl get -n $ns deployment/badzone-api >/dev/null 2>&1"

# Metrics of the running controller.
curl -sf "http://127.0.0.1:$m1/metrics" >"$work/metrics.txt"
for family in controller_runtime_reconcile_total controller_runtime_reconcile_time_seconds_bucket \
    workqueue_depth workqueue_adds_total workqueue_queue_duration_seconds_bucket \
    workqueue_work_duration_seconds_bucket rest_client_requests_total; do
  check "/metrics has $family" grep -q "^$family" "$work/metrics.txt"
done

# The API server restarted mid-watch: the operator keeps working, same PID.
op1_pid=$(cat "$work/op1.pid")
"$repo/scripts/cluster.sh" restart "$work/cluster" kube-apiserver >/dev/null 2>&1
check "the API server comes back" eventually 60 k get --raw /readyz
k patch -n $ns pe/minimal --type=json -p '[{"op":"replace","path":"/spec/components/1/replicas/max","value":7}]' >/dev/null
after_restart() { [ "$(jp hpa/minimal-calculation '{.spec.maxReplicas}')" = 7 ]; }
check "after an API server restart, a CR edit still reaches the HPA" eventually 60 after_restart
check "the operator did not restart" kill -0 "$op1_pid"

# Deleting the CR garbage-collects every child.
k delete -n $ns pe/minimal >/dev/null
gone() { for c in $children; do k get -n $ns "$c" >/dev/null 2>&1 && return 1; done; return 0; }
check "deleting the CR garbage-collects every child" eventually 60 gone

kill -TERM "$op1_pid"; wait "$op1_pid"; rc=$?
check "SIGTERM stops the operator with exit status 0" test "$rc" = 0
grep -q '"msg":"stopped"' "$work/op1.log" || fail "the operator logs its stop as JSON"

# --- Two operators with leader election -----------------------------------------
ns=default
lease_args=(--leader-elect --leader-election-namespace default --lease-duration 6s
            --renew-deadline 4s --retry-period 1s --metrics-addr 0)
start_operator la --identity op-a --health-addr "127.0.0.1:$(port)" "${lease_args[@]}"
check "the first operator takes the Lease" \
  eventually 30 bash -c "[ \"\$(kubectl get lease pricing-operator -o jsonpath='{.spec.holderIdentity}')\" = op-a ]"
start_operator lb --identity op-b --health-addr "127.0.0.1:$(port)" "${lease_args[@]}"
k apply -f "$repo/examples/pricingengine-minimal.yaml" >/dev/null
check "the leader creates the children" eventually 30 bash -c "kubectl get hpa/minimal-api >/dev/null 2>&1"
sleep 3
only_leader_writes() {
  kubectl get hpa/minimal-api --show-managed-fields -o json | grep -q '"manager": "pricing-operator"' &&
    ! grep -q '"msg":"became the leader' "$work/lb.log"
}
check "only one operator leads" only_leader_writes
kill -KILL "$(cat "$work/la.pid")"
killed_at=$(date +%s.%N)
check "after kill -9 of the leader, the other takes the Lease within the lease duration (+ retry)" \
  eventually 12 bash -c "[ \"\$(kubectl get lease pricing-operator -o jsonpath='{.spec.holderIdentity}')\" = op-b ]"
took=$(python3 -c "import time; print(f'{time.time()-$killed_at:.1f}')")
echo "INFO: takeover after ${took}s (lease duration 6s)"
k patch pe/minimal --type=json -p '[{"op":"replace","path":"/spec/components/0/replicas/max","value":8}]' >/dev/null
new_leader_works() { [ "$(jp hpa/minimal-api '{.spec.maxReplicas}')" = 8 ]; }
check "the new leader reconciles" eventually 20 new_leader_works
lb=$(cat "$work/lb.pid"); kill -TERM "$lb"; wait "$lb"
released() { [ -z "$(kubectl get lease pricing-operator -o jsonpath='{.spec.holderIdentity}')" ]; }
check "a leader stopped by SIGTERM releases the Lease" released

summary
