#!/usr/bin/env bash
# The PricingEngine CRD on a real API server: the schema is accepted (structural,
# CEL within its cost budget) and Established, with its ValidatingAdmissionPolicy
# (crds/pricingengines-admission-policy.yaml, for the policy layers' number-or-map
# targets) and binding in force; the examples and docs/design.md §3.1's full example
# (number- and map-form targets included) are accepted without pruning; defaults are
# filled in; `kubectl get pe` shows the printer columns; every CR in examples/invalid/
# is rejected, by the schema or the policy, with the message its "# expect:" lines
# name; the status subresource keeps status and spec apart.
#
#   bash tests/cluster/crd_test.sh [WORKDIR]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${1:-$(mktemp -d)}
data=$here/testdata/crd
. "$here/lib.sh"

crd=pricingengines.pricing.borrowrate.io
rm -rf "$work"; mkdir -p "$work"
cleanup() { "$repo/scripts/cluster.sh" down "$work/cluster" >/dev/null 2>&1; }
trap cleanup EXIT

if ! "$repo/scripts/cluster.sh" up "$work/cluster" >"$work/up.out"; then
  fail "cluster comes up"; tail -n 30 "$work"/cluster/logs/*.log; summary; exit 1
fi
eval "$(tail -n 1 "$work/up.out")"
bin=$(. "$work/cluster/state.env"; echo "$bin")
export PATH=$bin:$PATH
k() { kubectl --request-timeout=20s "$@"; }
# quiet COMMAND...: COMMAND with its stdout discarded (errors still show).
quiet() { "$@" >/dev/null; }
jp() { k get pe "$1" -o jsonpath="$2"; }

# The CRD: accepted without warnings, Established, and re-applying it changes nothing.
if k apply --server-side -f "$repo/crds/" >"$work/crd.out" 2>"$work/crd.err"; then
  pass "kubectl apply --server-side -f crds/ succeeds"
else
  fail "kubectl apply --server-side -f crds/ succeeds"; cat "$work/crd.err"
fi
check "the CRD is applied without warnings" bash -c "! grep -qi warning '$work/crd.err'"
check "the CRD becomes Established" wait_established 60 "$crd"
check "the CRD's names are accepted" \
  quiet k wait --for condition=namesaccepted --timeout=10s "crd/$crd"
gen_before=$(k get crd "$crd" -o jsonpath='{.metadata.generation}')
vap_gen_before=$(k get validatingadmissionpolicy "$crd" -o jsonpath='{.metadata.generation}')
k apply --server-side -f "$repo/crds/" >/dev/null 2>&1
check "re-applying the CRD is a no-op" \
  test "$(k get crd "$crd" -o jsonpath='{.metadata.generation}')" = "$gen_before"
check "re-applying the admission policy is a no-op" \
  test "$(k get validatingadmissionpolicy "$crd" -o jsonpath='{.metadata.generation}')" = "$vap_gen_before"
# The schema reaches the published OpenAPI a moment after Established.
explains_precedence() { kubectl explain pe.spec | tr -s ' \n' ' ' | grep -q 'largest min of the active layers'; }
check "kubectl explain shows the precedence rule on spec" eventually 30 explains_precedence

# The admission policy: applied with the CRD, bound with Deny, and in force (the API
# server loads a new policy a moment after it is created) before any resource below.
check "crds/ holds the ValidatingAdmissionPolicy and its binding" \
  quiet k get validatingadmissionpolicy,validatingadmissionpolicybinding "$crd"
check "the binding denies with the policy" \
  test "$(k get validatingadmissionpolicybinding "$crd" -o jsonpath='{.spec.policyName} {.spec.validationActions}')" = \
       "$crd [\"Deny\"]"
policy_denies() {
  local out
  out=$(k apply --dry-run=server -f - 2>&1 <<'EOF'
apiVersion: pricing.borrowrate.io/v1alpha1
kind: PricingEngine
metadata: {name: policy-probe}
spec:
  image: registry.example.com/pricing-engine:1.0.0
  components: [{name: calculation, replicas: {min: 1, max: 2}}]
  volatility: {regimes: [{name: High, enterAbove: 30, exitBelow: 27, targetCPUUtilizationPercentage: 0}]}
EOF
) && return 1
  grep -qF 'spec.volatility.regimes[0].targetCPUUtilizationPercentage: must be an integer 1..100' <<<"$out"
}
check "the admission policy is in force within 30 s" eventually 30 policy_denies

# Valid resources: every example (examples/*.yaml, new ones included), and the
# full §3.1 example, with --validate=strict so a field the schema lacks fails
# instead of being silently pruned.
shopt -s nullglob
examples=("$repo"/examples/*.yaml)
check "examples/ holds the minimal, seed-production and all-in-one examples" \
  test -f "$repo/examples/pricingengine-minimal.yaml" -a -f "$repo/examples/pricingengine-seed-production.yaml" \
    -a -f "$repo/examples/pricingengine-all-in-one.yaml"
valid="full source-default source-prometheus source-url source-value"
for f in "${examples[@]}"; do
  check "examples/$(basename "$f") is accepted" quiet k apply --validate=strict -f "$f"
  valid="$valid $(k get -f "$f" -o jsonpath='{.metadata.name}')"
done
check "docs/design.md §3.1's example with every field is accepted with no unknown field" \
  quiet k apply --validate=strict -f "$data/full.yaml"
check "number- and map-form policy-layer targets pass the admission policy as written" \
  test "$(jp full '{.spec.marketHours.phases[1].targetCPUUtilizationPercentage} {.spec.volatility.regimes[1].targetCPUUtilizationPercentage} {.spec.events[0].targetMemoryUtilizationPercentage}')" = \
       '70 {"calculation":60} {"*":85}'
check "autoscaling.metrics of each type is kept as written" \
  test "$(jp full '{.spec.components[0].autoscaling.metrics[*].type} {.spec.components[1].autoscaling.metrics[0].containerResource.container}')" = \
       'Resource Pods Object External engine'
check "each volatility source kind is accepted" \
  quiet k apply --validate=strict -f "$data/sources.yaml"
check "the full example round-trips (phase straddling midnight, offsets, behavior)" \
  bash -c "kubectl get pe full -o jsonpath='{.spec.marketHours.phases[3].start}-{.spec.marketHours.phases[3].end} {.spec.marketHours.phases[4].end} {.spec.components[0].autoscaling.behavior.scaleDown.stabilizationWindowSeconds}' | grep -qx '22:00-04:00 close+1h30m 300'"

# Defaults.
check "default marketHours.timeZone is America/New_York" \
  test "$(jp minimal '{.spec.marketHours.timeZone}')" = America/New_York
check "default marketHours.calendar is NYSE" test "$(jp minimal '{.spec.marketHours.calendar}')" = NYSE
check "default marketHours.leadTime is 0s" test "$(jp minimal '{.spec.marketHours.leadTime}')" = 0s
check "default paused is false" test "$(jp minimal '{.spec.paused}')" = false
check "default component role is all" test "$(jp source-url '{.spec.components[0].role}')" = all
check "default volatility pollInterval 60s and minHold 15m" \
  test "$(jp source-url '{.spec.volatility.pollInterval} {.spec.volatility.minHold}')" = "60s 15m"
check "default volatility source is the engine" \
  test "$(jp source-default '{.spec.volatility.source}')" = '{"engine":{}}'
check "default url jsonPointer is /value" \
  test "$(jp source-url '{.spec.volatility.source.url.jsonPointer}')" = /value

# Printer columns and the short name.
check "kubectl get pe lists NAME PHASE REGIME READY AGE" \
  bash -c "kubectl get pe | head -n 1 | grep -Eq '^NAME +PHASE +REGIME +READY +AGE$'"
check "kubectl get pricingengines works by plural" quiet k get pricingengines minimal

# Invalid resources: each is rejected, with every "# expect:" text in the message.
invalid=("$repo"/examples/invalid/*.yaml)
check "examples/invalid/ holds invalid samples" test "${#invalid[@]}" -ge 9
for f in "${invalid[@]}"; do
  name=examples/invalid/$(basename "$f")
  mapfile -t expects < <(sed -n 's/^# expect: //p' "$f")
  if [ "${#expects[@]}" -eq 0 ]; then fail "$name has an '# expect:' line"; continue; fi
  out=$(k apply -f "$f" 2>&1); rc=$?
  missing=()
  for e in "${expects[@]}"; do grep -qF -- "$e" <<<"$out" || missing+=("$e"); done
  if [ "$rc" -ne 0 ] && [ "${#missing[@]}" -eq 0 ]; then
    pass "$name is rejected: ${expects[0]}"
  else
    fail "$name is rejected: ${expects[0]}"
    echo "  exit $rc, missing: ${missing[*]}"; echo "$out" | sed 's/^/  | /'
  fi
done
update_denied() {
  local out
  out=$(k patch pe minimal --type=merge \
    -p '{"spec":{"marketHours":{"phases":[{"name":"Regular","start":"open","end":"close","targetMemoryUtilizationPercentage":{"pricing":80}}]}}}' 2>&1) &&
    return 1
  grep -qF 'spec.marketHours.phases[0].targetMemoryUtilizationPercentage[pricing]: unknown component' <<<"$out"
}
check "the admission policy checks updates too" update_denied
# (As sets: examples may share a name, e.g. one that adds an override to another.)
check "no invalid resource was stored" \
  test "$(k get pe -o jsonpath='{.items[*].metadata.name}' | tr ' ' '\n' | sort -u | xargs)" = \
       "$(echo "$valid" | tr ' ' '\n' | sort -u | xargs)"

# Status subresource: status writes go through /status only and leave generation alone.
gen=$(jp minimal '{.metadata.generation}')
check "kubectl patch --subresource=status writes status" \
  quiet k patch pe minimal --subresource=status --type=merge --patch-file "$data/status.yaml"
check "status reads back" \
  test "$(jp minimal '{.status.marketPhase} {.status.volatility.regime} {.status.components[0].reasons[0]}')" = \
       "Regular High min=2 by base"
check "a status write does not bump metadata.generation" \
  test "$(jp minimal '{.metadata.generation}')" = "$gen"
check "the printer columns show phase, regime and Ready" \
  bash -c "kubectl get pe minimal --no-headers | grep -Eq '^minimal +Regular +High +True +'"
k patch pe minimal --type=merge -p '{"status":{"marketPhase":"Bogus"}}' >/dev/null 2>&1
check "status sent to the main resource is ignored" test "$(jp minimal '{.status.marketPhase}')" = Regular
k patch pe minimal --type=merge -p '{"spec":{"paused":true}}' >/dev/null
check "a spec change bumps metadata.generation and keeps status" \
  test "$(jp minimal '{.metadata.generation} {.status.marketPhase}')" = "$((gen + 1)) Regular"
bad_status_rejected() {
  local out
  out=$(k patch pe minimal --subresource=status --type=merge -p '{"status":{"marketDay":"Funday"}}' 2>&1) && return 1
  grep -qF 'Unsupported value: "Funday"' <<<"$out" && [ "$(jp minimal '{.status.marketDay}')" = Regular ]
}
check "the status schema is enforced (marketDay enum)" bad_status_rejected

summary
