#!/usr/bin/env bash
# pricing-operator against a real control plane (etcd, kube-apiserver,
# kube-controller-manager): children created with owner references and
# managed fields; edits to the CR reach them; a deleted or hand-edited child
# is put back; the HPA's replica count is never undone; deleting the CR
# garbage-collects everything; invalid CRs are refused by the API server or
# reported as SpecValid=False with an Event; an object holding a child's name
# is never written unless annotated for adoption; two operators with leader
# election, one of them killed with -9, one cut off from the API server by a
# proxy that stops forwarding, one rate-limited to 0.2 requests a second; the
# API server restarted mid-watch.
# Every operator runs under the pricing-operator ServiceAccount's token with
# exactly the RBAC of manifests/base, so each of these proves that RBAC enough.
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

# --- The operator's identity: manifests/base's ServiceAccount and RBAC ----------
# Only the RBAC objects (and their namespace) of the install, not its
# Deployment: the operator runs here as a process with the ServiceAccount's
# token. The test's own `k` stays admin.
kubectl kustomize "$repo/manifests/base" >"$work/base.yaml"
python3 - "$work/base.yaml" >"$work/rbac.yaml" <<'PY'
import sys, yaml
kinds = {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
print(yaml.safe_dump_all([d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] in kinds]))
PY
check "manifests/base's Namespace, ServiceAccount and RBAC apply" \
  quiet k apply --server-side -f "$work/rbac.yaml"
sa_kubeconfig=$work/pricing-operator.kubeconfig
make_sa_kubeconfig() {
  local token server ca
  token=$(k create token pricing-operator -n pricing-system --duration=2h) || return 1
  server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
  ca=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}')
  # The context's namespace is the ServiceAccount's, as in a pod.
  kubectl config --kubeconfig "$sa_kubeconfig" set-cluster test --server "$server" \
      --certificate-authority "$ca" --embed-certs=true >/dev/null &&
    kubectl config --kubeconfig "$sa_kubeconfig" set-credentials pricing-operator --token "$token" >/dev/null &&
    kubectl config --kubeconfig "$sa_kubeconfig" set-context test --cluster test \
      --user pricing-operator --namespace pricing-system >/dev/null &&
    kubectl config --kubeconfig "$sa_kubeconfig" use-context test >/dev/null
}
check "a token of ServiceAccount pricing-system/pricing-operator and its kubeconfig" make_sa_kubeconfig
# can_i ANSWER VERB RESOURCE [ARGS...]: the ServiceAccount's answer to `auth can-i`.
can_i() {
  local want=$1; shift
  [ "$(kubectl --kubeconfig "$sa_kubeconfig" auth can-i "$@" 2>/dev/null)" = "$want" ]
}
check "the token authenticates as the ServiceAccount" \
  eval "kubectl --kubeconfig '$sa_kubeconfig' auth whoami -o jsonpath='{.status.userInfo.username}' | grep -qx system:serviceaccount:pricing-system:pricing-operator"
check "the ServiceAccount may server-side apply Deployments in any namespace" can_i yes patch deployments.apps -A
check "the ServiceAccount may not create Secrets" can_i no create secrets -A
check "the ServiceAccount may not read Secrets" can_i no get secrets -n pricing-system
check "the ServiceAccount may not change a PricingEngine's spec" can_i no update pricingengines.pricing.borrowrate.io -A
check "the ServiceAccount may not create Pods" can_i no create pods -A
check "the ServiceAccount may renew its Lease only in pricing-system" \
  eval "can_i yes update leases.coordination.k8s.io/pricing-operator -n pricing-system &&
        can_i no update leases.coordination.k8s.io/pricing-operator -n default &&
        can_i no update leases.coordination.k8s.io/other -n pricing-system"

# start_operator NAME ARGS...: runs the operator in the background as the
# ServiceAccount, logs to $work/NAME.log, its PID in $work/NAME.pid.
start_operator() {
  local name=$1; shift
  "$operator" run --kubeconfig "$sa_kubeconfig" "$@" >"$work/$name.log" 2>&1 &
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

# A component removed from the spec: the operator deletes its children (the
# owner still exists, so the garbage collector would not).
k patch -n $ns pe/minimal --type=json -p '[{"op":"remove","path":"/spec/components/1"}]' >/dev/null
component_gone() {
  for c in deployment service hpa pdb; do k get -n $ns "$c/minimal-calculation" >/dev/null 2>&1 && return 1; done
  k get -n $ns deployment/minimal-api >/dev/null 2>&1
}
check "removing a component from the spec deletes its children and keeps the others" eventually 30 component_gone

# Deleting the CR garbage-collects every child.
k delete -n $ns pe/minimal >/dev/null
gone() { for c in $children; do k get -n $ns "$c" >/dev/null 2>&1 && return 1; done; return 0; }
check "deleting the CR garbage-collects every child" eventually 60 gone

kill -TERM "$op1_pid"; wait "$op1_pid"; rc=$?
check "SIGTERM stops the operator with exit status 0" test "$rc" = 0
grep -q '"msg":"stopped"' "$work/op1.log" || fail "the operator logs its stop as JSON"

# --- A hardened cluster: a permission missing ------------------------------------
# The control plane enforces OwnerReferencesPermissionEnforcement (as OpenShift
# does): setting blockOwnerDeletion needs update on pricingengines/finalizers.
# Without that rule the API server refuses every child with 403. The operator
# says so once, as a condition and an Event naming the permission, and does not
# retry in a loop; with the rule back, the next change of the CR heals it.
finalizers_rule=$(k get clusterrole pricing-operator -o json | python3 -c '
import json, sys
rules = json.load(sys.stdin)["rules"]
print(next(i for i, r in enumerate(rules) if "pricingengines/finalizers" in r.get("resources", [])))')
k patch clusterrole pricing-operator --type=json \
  -p "[{\"op\":\"remove\",\"path\":\"/rules/$finalizers_rule\"}]" >/dev/null
check "without update on pricingengines/finalizers the ServiceAccount may not set it" \
  can_i no update pricingengines.pricing.borrowrate.io --subresource=finalizers -A
ns=hardened
k create namespace $ns >/dev/null
m2=$(port)
start_operator hardened --namespace $ns --metrics-addr "127.0.0.1:$m2" --health-addr "127.0.0.1:$(port)"
k apply -n $ns -f "$repo/examples/pricingengine-minimal.yaml" >/dev/null
refused() {
  [ "$(jp pe/minimal '{.status.conditions[?(@.type=="Degraded")].reason}')" = ApplyRefused ] &&
    jp pe/minimal '{.status.conditions[?(@.type=="Degraded")].message}' | grep -q finalizers
}
check "a child refused for the missing permission: Degraded=True ApplyRefused naming finalizers" \
  eventually 30 refused
refused_event() {
  k get events.events.k8s.io -n $ns -o json | python3 -c '
import json, sys
events = [e for e in json.load(sys.stdin)["items"] if e.get("reason") == "ApplyRefused"]
sys.exit(0 if len(events) == 1 and "finalizers" in events[0].get("note", "") else 1)'
}
check "one Warning Event ApplyRefused names the permission" eventually 20 refused_event
forbidden_patches() {
  curl -sf "http://127.0.0.1:$m2/metrics" |
    awk '/^rest_client_requests_total\{/ && /code="403"/ && /method="PATCH"/ {n += $2} END {print n + 0}'
}
sleep 5
n403=$(forbidden_patches)
sleep 10
n403_later=$(forbidden_patches)
echo "INFO: PATCH requests refused with 403: $n403 after 5 s, $n403_later 10 s later (8 children)"
check "no retry storm: at most 3 rounds of the 8 children, none in the next 10 s" \
  test "$n403" -le 24 -a "$n403_later" = "$n403"
k apply --server-side --force-conflicts -f "$work/rbac.yaml" >/dev/null
k annotate -n $ns pe/minimal example.com/touched=1 >/dev/null
healed() { k get -n $ns deployment/minimal-api hpa/minimal-api pdb/minimal-api >/dev/null 2>&1; }
check "with the permission back, the next change of the CR creates the children" eventually 30 healed
k delete namespace $ns --wait=false >/dev/null
h_pid=$(cat "$work/hardened.pid"); kill -TERM "$h_pid"; wait "$h_pid"

# --- A shared namespace: an object holding a child's name -----------------------
# Another team's Service is named like a child. The operator never writes to
# it: the CR gets Ready=False ChildConflict naming it and one Warning Event, and
# the Service keeps its selector and owners. Annotated for adoption, it is
# taken over (the operator's owner reference and selector).
ns=shared
k create namespace $ns >/dev/null
k create service clusterip minimal-api -n $ns --tcp=80:8080 >/dev/null  # selector app=minimal-api
start_operator shared --namespace $ns --metrics-addr 0 --health-addr "127.0.0.1:$(port)"
k apply -n $ns -f "$repo/examples/pricingengine-minimal.yaml" >/dev/null
conflict() {
  [ "$(jp pe/minimal '{.status.conditions[?(@.type=="Ready")].reason}')" = ChildConflict ] &&
    jp pe/minimal '{.status.conditions[?(@.type=="Ready")].message}' |
      grep -q "Service shared/minimal-api exists and is not controlled"
}
check "a Service the operator does not control: Ready=False ChildConflict naming it" \
  eventually 30 conflict
conflict_event() {
  k get events.events.k8s.io -n $ns -o json | python3 -c '
import json, sys
events = [e for e in json.load(sys.stdin)["items"] if e.get("reason") == "ChildConflict"]
sys.exit(0 if len(events) == 1 and "minimal-api" in events[0].get("note", "") else 1)'
}
check "one Warning Event ChildConflict names it" eventually 20 conflict_event
others_made() { k get -n $ns deployment/minimal-api hpa/minimal-api pdb/minimal-api >/dev/null 2>&1; }
check "the other children are created" eventually 30 others_made
sleep 2
untouched() {
  [ "$(jp service/minimal-api '{.spec.selector}')" = '{"app":"minimal-api"}' ] &&
    [ -z "$(jp service/minimal-api '{.metadata.ownerReferences}')" ] &&
    ! k get -n $ns service/minimal-api --show-managed-fields -o json | grep -q '"manager": "pricing-operator"'
}
check "the Service is untouched: its selector, no owner, no field of the operator's" untouched
k annotate -n $ns service/minimal-api pricing.borrowrate.io/adopt=true >/dev/null
adopted() {
  [ "$(jp service/minimal-api '{.metadata.ownerReferences[0].kind}')" = PricingEngine ] &&
    jp service/minimal-api '{.spec.selector}' | grep -q '"app.kubernetes.io/component":"api"' &&
    [ "$(jp pe/minimal '{.status.conditions[?(@.type=="Ready")].reason}')" != ChildConflict ]
}
check "annotated pricing.borrowrate.io/adopt=true, it is adopted within the recheck (30 s)" \
  eventually 45 adopted
k delete namespace $ns --wait=false >/dev/null
s_pid=$(cat "$work/shared.pid"); kill -TERM "$s_pid"; wait "$s_pid"

# --- Two operators with leader election -----------------------------------------
# The Lease is in pricing-system, where the leader-election Role allows it: op-a
# names the namespace, op-b takes the default (its context's namespace, as a
# pod takes its own), so sharing one Lease also proves that default.
ns=default
lease_args=(--leader-elect --lease-duration 6s --renew-deadline 4s --retry-period 1s --metrics-addr 0)
holder() { kubectl get lease pricing-operator -n pricing-system -o jsonpath='{.spec.holderIdentity}'; }
start_operator la --identity op-a --leader-election-namespace pricing-system \
  --health-addr "127.0.0.1:$(port)" "${lease_args[@]}"
check "the first operator takes the Lease in pricing-system" \
  eventually 30 eval '[ "$(holder)" = op-a ]'
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
  eventually 12 eval '[ "$(holder)" = op-b ]'
took=$(python3 -c "import time; print(f'{time.time()-$killed_at:.1f}')")
echo "INFO: takeover after ${took}s (lease duration 6s)"
k patch pe/minimal --type=json -p '[{"op":"replace","path":"/spec/components/0/replicas/max","value":8}]' >/dev/null
new_leader_works() { [ "$(jp hpa/minimal-api '{.spec.maxReplicas}')" = 8 ]; }
check "the new leader reconciles" eventually 20 new_leader_works
lb=$(cat "$work/lb.pid"); kill -TERM "$lb"; wait "$lb"
released() { [ -z "$(holder)" ]; }
check "a leader stopped by SIGTERM releases the Lease" released

# --- Leader election through an API server that stops answering -----------------
# op-c reaches the API server through a proxy that stops forwarding on command
# (freeze_proxy.py: every connection of op-c, lease and writes alike); op-d
# talks to it directly. Frozen, op-c can neither renew nor write: it must give
# up and exit at the renew deadline (4 s after its last renewal began, even
# with a request hanging), which comes before op-d may take the Lease (6 s
# after it last saw it renewed), so the two never write at the same time.
# Both run with --log-level debug and log every child they apply; a loop edits
# the CR twice a second so that whoever leads has something to write.
ns=slow
k create namespace $ns >/dev/null
upstream=$(kubectl --kubeconfig "$sa_kubeconfig" config view --minify -o jsonpath='{.clusters[0].cluster.server}')
freeze=$work/proxy.freeze
rm -f "$freeze" "$work/proxy.port"
python3 "$here/freeze_proxy.py" "${upstream##*:}" "$work/proxy.port" "$freeze" 2>"$work/proxy.log" &
proxy_pid=$!; pids+=("$proxy_pid")
check "the freezing proxy listens" eventually 10 test -s "$work/proxy.port"
proxied_kubeconfig=$work/proxied.kubeconfig
cp "$sa_kubeconfig" "$proxied_kubeconfig"
kubectl config --kubeconfig "$proxied_kubeconfig" set-cluster test \
  --server "https://127.0.0.1:$(cat "$work/proxy.port")" >/dev/null
slow_args=(--namespace $ns --log-level debug "${lease_args[@]}")
"$operator" run --kubeconfig "$proxied_kubeconfig" --identity op-c --leader-election-namespace \
  pricing-system --health-addr "127.0.0.1:$(port)" "${slow_args[@]}" >"$work/lc.log" 2>&1 &
lc=$!; pids+=("$lc")
check "through the proxy, op-c takes the Lease" eventually 30 eval '[ "$(holder)" = op-c ]'
start_operator ld --identity op-d --health-addr "127.0.0.1:$(port)" "${slow_args[@]}"
k apply -n $ns -f "$repo/examples/pricingengine-minimal.yaml" >/dev/null
check "op-c creates the children through the proxy" \
  eventually 30 bash -c "kubectl get -n $ns hpa/minimal-api >/dev/null 2>&1"
edit_loop() {
  local i=0
  while :; do
    i=$((i + 1))
    kubectl --request-timeout=5s patch -n $ns pe/minimal --type=json \
      -p "[{\"op\":\"replace\",\"path\":\"/spec/components/0/replicas/max\",\"value\":$((6 + i % 4))}]" >/dev/null 2>&1
    sleep 0.5
  done
}
edit_loop &
edit_pid=$!; pids+=("$edit_pid")
sleep 3
touch "$freeze"
frozen_at=$(date +%s.%N)
check "with op-c frozen, op-d takes the Lease" eventually 30 eval '[ "$(holder)" = op-d ]'
if eventually 10 grep -q '"msg":"lost the lease; exiting"' "$work/lc.log"; then
  pass "op-c logs that it lost the Lease"
else
  fail "op-c logs that it lost the Lease"; kill -KILL "$lc"
fi
wait "$lc"; rc=$?
check "op-c exits with status 1" test "$rc" = 1
check "op-d applies children once it leads" eventually 30 grep -q '"msg":"child applied"' "$work/ld.log"
sleep 2
kill -TERM "$edit_pid"; wait "$edit_pid" 2>/dev/null
kill -TERM "$proxy_pid"; wait "$proxy_pid" 2>/dev/null
python3 - "$work/lc.log" "$work/ld.log" "$frozen_at" >"$work/handover.txt" <<'PY'
import json, sys
from datetime import datetime, timezone

def entries(path):
    out = []
    for line in open(path, errors="replace"):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        t = datetime.strptime(e["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        out.append((t.timestamp(), e))
    return out

def times(log, msg):
    return [t for t, e in log if e.get("msg") == msg]

old, new, frozen = entries(sys.argv[1]), entries(sys.argv[2]), float(sys.argv[3])
old_writes, new_writes = times(old, "child applied"), times(new, "child applied")
old_exit = times(old, "lost the lease; exiting")
new_lead = times(new, "became the leader; starting the controller")
renew_failures = [e for _, e in old if e.get("msg") == "cannot renew the lease" and e.get("error")]
after_exit = [e["msg"] for t, e in old if old_exit and t > old_exit[0]]
print(f"old_writes={len(old_writes)} new_writes={len(new_writes)} old_exit={len(old_exit)} "
      f"new_lead={len(new_lead)} renew_failures={len(renew_failures)} after_exit={after_exit}")
if old_writes and new_writes and old_exit and new_lead:
    print(f"INFO: op-c exited {old_exit[0] - frozen:.2f}s after the freeze "
          f"(renew deadline 4s, retry period 1s)")
    print(f"INFO: op-d led {new_lead[0] - frozen:.2f}s after the freeze (lease duration 6s), "
          f"{new_lead[0] - old_exit[0]:.2f}s after op-c exited")
    print(f"INFO: op-c's last child write to op-d's first: {new_writes[0] - old_writes[-1]:.2f}s")
    print(f"INFO: writes: op-c {len(old_writes)}, op-d {len(new_writes)}")
    both = {int(t) for t in old_writes} & {int(t) for t in new_writes}
    ok = (old_exit[0] < new_lead[0] and old_writes[-1] < new_writes[0] and not both
          and renew_failures and not after_exit)
    print("ordered" if ok else f"overlap: seconds written by both {sorted(both)}")
    for e in renew_failures[:3]:
        print(f"renew failure: {e['error']}")
PY
grep '^INFO:' "$work/handover.txt"
check "op-c exited before op-d led, and their writes are disjoint (never in the same second)" \
  grep -qx ordered "$work/handover.txt"
check "op-c logged its failed renewals with the error, and nothing after its exit" \
  grep -q '^renew failure: ' "$work/handover.txt"
ld=$(cat "$work/ld.pid"); kill -TERM "$ld"; wait "$ld"
check "op-d stopped by SIGTERM releases the Lease" released

# --- Lease calls do not wait behind the rate limit --------------------------------
# An operator limited to one request every 5 s (--kube-api-qps 0.2) still renews
# its Lease every retry period: the Lease has a client of its own.
start_operator lt --identity op-t --kube-api-qps 0.2 --kube-api-burst 1 \
  --health-addr "127.0.0.1:$(port)" "${slow_args[@]}"
check "a rate-limited operator takes the Lease" eventually 20 eval '[ "$(holder)" = op-t ]'
: >"$work/renewals.txt"
for _ in $(seq 24); do
  echo "$(date +%s.%N) $(kubectl get lease pricing-operator -n pricing-system \
    -o jsonpath='{.spec.holderIdentity} {.spec.renewTime}')" >>"$work/renewals.txt"
  sleep 0.5
done
oldest=$(python3 - "$work/renewals.txt" <<'PY'
import sys
from datetime import datetime, timezone
ages = []
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) != 3 or parts[1] != "op-t":
        ages.append(float("inf"))
        continue
    renewed = datetime.strptime(parts[2], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    ages.append(float(parts[0]) - renewed.timestamp())
print(f"{max(ages):.2f}")
PY
)
echo "INFO: with --kube-api-qps 0.2, the oldest renewTime seen in 12 s was ${oldest}s old (retry period 1s)"
check "a rate-limited operator renews within the renew deadline (4 s) all along" \
  python3 -c "import sys; sys.exit(0 if float('$oldest') < 4 else 1)"
check "and logs no failed renewal" bash -c "! grep -q 'cannot renew the lease' '$work/lt.log'"
kill -KILL "$(cat "$work/lt.pid")"
k delete namespace $ns --wait=false >/dev/null

summary
