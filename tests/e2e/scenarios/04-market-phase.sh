# Scenario 4: a market phase boundary raises minReplicas, and the new pods
# come up Running and Ready. The operator's pods run under libfaketime (as
# tests/cluster/policy_test.sh runs the binary): the host's libfaketime.so.1,
# from a ConfigMap, is preloaded into pricing-operator:e2e (which links glibc
# dynamically) with a clock shifted to shortly before the lead time of the
# NYSE open on the next trading day (within the cluster certificates' 30 days;
# only the wall clock moves, the monotonic clock that leases and back-offs
# use is left alone). The PricingEngine gets a Regular phase (open to close,
# calculation min 3) and keeps its marketHours (NYSE, America/New_York,
# leadTime 10m). Afterwards the operator's template and the PricingEngine's
# spec are put back, and calculation is back at its base floor.

s4_quiet() { "$@" >/dev/null; }
# s4_leader OFFSET: the Lease is held by a pod that has FAKETIME set (OFFSET
# non-zero) or not (0), and was renewed within a minute of real time + OFFSET.
s4_leader() {
  local holder renew env
  holder=$(field pricing-system lease/pricing-operator '{.spec.holderIdentity}'); holder=${holder%%_*}
  renew=$(field pricing-system lease/pricing-operator '{.spec.renewTime}')
  [ -n "$holder" ] || return 1
  env=$(field pricing-system "pod/$holder" '{.spec.containers[0].env[*].name}') || return 1
  if [ "$1" = 0 ]; then [[ " $env " != *" FAKETIME "* ]]; else [[ " $env " == *" FAKETIME "* ]]; fi || return 1
  python3 -c "import datetime as d, sys, time
t = d.datetime.fromisoformat('$renew'.replace('Z', '+00:00')).timestamp()
sys.exit(0 if abs(t - time.time() - $1) < 60 else 1)"
}

rm -f "$work"/s4-*
pe_save_spec s4
kc -n pricing get pricingengine pricing -o json >"$work/s4-pe.json"
kc -n pricing-system get deployment pricing-operator -o json >"$work/s4-operator.json"
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
spec = json.load(open(f"{w}/s4-spec-fast-down.json"))
spec["marketHours"]["phases"] = [{"name": "Regular", "start": "open", "end": "close", "minReplicas": {"calculation": 3}}]
json.dump(spec, open(f"{w}/s4-spec-phase.json", "w"))
PY
min0=$(field pricing hpa/pricing-calculation '{.spec.minReplicas}')

# The boundary: the first upcoming transition that raises calculation's min,
# as the image's own `explain` lists it, checked against DESIGN §3.3 (a
# weekday, 09:30 New York less the 10m lead time).
python3 -c 'import json, sys; o = json.load(open(sys.argv[1])); o["spec"] = json.load(open(sys.argv[2])); print(json.dumps(o))' \
  "$work/s4-pe.json" "$work/s4-spec-phase.json" >"$work/s4-pe-phase.json"
kc -n pricing-system exec -i deployment/pricing-operator -- pricing-operator explain -f - --horizon 25d \
  <"$work/s4-pe-phase.json" >"$work/s4-explain.txt"
read -r boundary boundary_epoch < <(python3 - "$work/s4-explain.txt" <<'PY'
import datetime as dt, re, sys, time, zoneinfo
lines = open(sys.argv[1]).read().splitlines()
floor = next(int(m.group(1)) for l in lines if (m := re.match(r"\s+calculation\s+(\d+)\s+\d+", l)))
head = next(i for i, l in enumerate(lines) if l.strip().startswith("AT (UTC)"))
col = re.split(r"\s{2,}", lines[head].strip()).index("calculation")
for l in lines[head + 1:]:
    f = re.split(r"\s{2,}", l.strip())
    if len(f) <= col:
        continue
    was, floor = floor, int(f[col].split("..")[0])
    at = dt.datetime.fromisoformat(f[0].replace("Z", "+00:00"))
    if floor != 3 or was == 3 or at.timestamp() < time.time() + 600:
        continue
    ny = at.astimezone(zoneinfo.ZoneInfo("America/New_York"))
    if ny.weekday() < 5 and ny.strftime("%H:%M") == "09:20" and at.timestamp() < time.time() + 25 * 86400:
        print(f[0], int(at.timestamp()))
    break
PY
)
s4_lib=$(find /usr/lib -path '*/faketime/libfaketime.so.1' -print -quit 2>/dev/null)
if [ -z "$s4_lib" ]; then
  fail "libfaketime is installed (package faketime, scripts/install-deps.sh)"
elif [ -z "${boundary:-}" ]; then
  fail "explain lists the next Regular phase lead time (09:20 New York on a weekday, within 25 days)"
  cat "$work/s4-explain.txt"
else
  pass "explain lists the next Regular phase's lead time at $boundary (09:20 New York, a weekday)"
  # The operator's clock reaches the boundary 90 s (real) after its pods are patched.
  lead=90
  offset=$((boundary_epoch - lead - $(date +%s)))
  boundary_real=$((boundary_epoch - offset))
  figure "operator clock: real + ${offset} s; the boundary $boundary falls at real $(date -u -d "@$boundary_real" +%T)"

  kc -n pricing-system create configmap e2e-faketime \
    --from-file=libfaketime.so.1="$s4_lib" >/dev/null
  python3 - "$work" "$offset" <<'PY'
import json, sys
w, offset = sys.argv[1], sys.argv[2]
t = json.load(open(f"{w}/s4-operator.json"))["spec"]["template"]
json.dump([{"op": "replace", "path": "/spec/template", "value": t}], open(f"{w}/s4-operator-restore.patch", "w"))
pod, c = t["spec"], t["spec"]["containers"][0]
pod.setdefault("volumes", []).append({"name": "faketime", "configMap": {"name": "e2e-faketime"}})
c.setdefault("volumeMounts", []).append({"name": "faketime", "mountPath": "/opt/faketime", "readOnly": True})
c.setdefault("env", []).extend([
    {"name": "LD_PRELOAD", "value": "/opt/faketime/libfaketime.so.1"},
    {"name": "FAKETIME", "value": f"+{offset}"},
    {"name": "FAKETIME_DONT_FAKE_MONOTONIC", "value": "1"}])
json.dump([{"op": "replace", "path": "/spec/template", "value": t}], open(f"{w}/s4-operator-faked.patch", "w"))
PY
  t_patch=$SECONDS
  kc -n pricing-system patch deployment pricing-operator --type json --patch-file "$work/s4-operator-faked.patch" >/dev/null
  check "the operator rolls out with libfaketime preloaded (restricted Pod Security admits it)" \
    s4_quiet in_cluster kubectl -n pricing-system rollout status deployment/pricing-operator --timeout=120s
  check "a patched replica holds the Lease, renewed on the shifted clock" eventually 60 s4_leader "$offset"
  figure "operator patched -> rolled out with a leader on the shifted clock in $((SECONDS - t_patch)) s"

  pe_set_spec "$work/s4-spec-phase.json"
  check "status: a Regular market day, phase Closed, the boundary in nextTransitions" \
    eventually 30 bash -c "'$e2e' exec '$cluster' -- kubectl -n pricing get pe pricing -o json | python3 -c '
import json, sys
s = json.load(sys.stdin)[\"status\"]
sys.exit(0 if s.get(\"marketDay\") in (\"Regular\", \"EarlyClose\") and s.get(\"marketPhase\") == \"Closed\"
         and \"$boundary\" in [t.get(\"at\") for t in s.get(\"nextTransitions\", [])] else 1)'"
  wait_s=$((boundary_real - 3 - $(date +%s)))
  if [ "$wait_s" -lt 0 ]; then
    fail "the operator was ready before the boundary (it came $((-wait_s)) s late; raise lead)"
  else
    sleep "$wait_s"
    check "3 s before the boundary calculation's HPA still has the base floor ($min0)" \
      field_is pricing hpa/pricing-calculation '{.spec.minReplicas}' "$min0"
  fi
  check "at the boundary calculation's HPA minReplicas becomes 3" \
    eventually 60 field_is pricing hpa/pricing-calculation '{.spec.minReplicas}' 3
  check "the HPA scales calculation to 3 pods, all Running and Ready" \
    eventually 180 bash -c "[ \"\$('$e2e' exec '$cluster' -- kubectl -n pricing get deployment pricing-calculation \
      -o jsonpath='{.status.readyReplicas}')\" = 3 ] && '$e2e' exec '$cluster' -- kubectl -n pricing get pods -o json |
      python3 -c 'import json, sys
sys.exit(0 if all(p[\"status\"].get(\"phase\") == \"Running\" and all(c.get(\"ready\") for c in p[\"status\"].get(\"containerStatuses\", [{}]))
         for p in json.load(sys.stdin)[\"items\"]) else 1)'"
  kc -n pricing get hpa pricing-calculation --show-managed-fields -o json >"$work/s4-hpa.json"
  kc -n pricing get pods -l app.kubernetes.io/component=calculation -o json >"$work/s4-pods.json"
  if read -r hpa_at pod_created pod_ready < <(python3 - "$work" "$boundary_real" <<'PY'
import datetime as dt, json, sys
w, b = sys.argv[1], int(sys.argv[2])
items = [json.load(open(f"{w}/s4-hpa.json"))] + json.load(open(f"{w}/s4-pods.json"))["items"]
ts = lambda s: dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() - b
hpa = next(o for o in items if o["kind"] == "HorizontalPodAutoscaler")
applied = max(ts(m["time"]) for m in hpa["metadata"]["managedFields"]
              if m["manager"] == "pricing-operator" and "subresource" not in m)
new = [p for p in items if p["kind"] == "Pod" and ts(p["metadata"]["creationTimestamp"]) >= -1]
ready = [ts(c["lastTransitionTime"]) for p in new for c in p["status"]["conditions"] if c["type"] == "Ready" and c["status"] == "True"]
if len(new) == 1 and len(ready) == 1:
    print(f"{applied:.0f} {ts(new[0]['metadata']['creationTimestamp']):.0f} {ready[0]:.0f}")
PY
  ); then
    figure "phase boundary -> HPA minReplicas 3: ${hpa_at} s; -> new calculation pod created: ${pod_created} s; -> Running and Ready: ${pod_ready} s"
    check "the floor was raised at the boundary, not before (${hpa_at} s, 1 s resolution)" test "$hpa_at" -ge 0
  else
    fail "exactly one new calculation pod, Ready, after the boundary"
  fi
  check "status says which layer set calculation's min (phase Regular, lead time)" \
    bash -c "'$e2e' exec '$cluster' -- kubectl -n pricing get pe pricing \
      -o jsonpath='{.status.components[?(@.name==\"calculation\")].reasons}' | grep -q 'min=3 by phase Regular'"
fi

# --- restore: the phase off (calculation back to its floor), then the original
# spec, then the operator's own template --------------------------------------
pe_set_spec "$work/s4-spec-fast-down.json"
check "without the phase calculation scales back to $min0 pods" \
  eventually 120 field_is pricing deployment/pricing-calculation '{.status.replicas}' "$min0"
pe_set_spec "$work/s4-spec-original.json"
if [ -f "$work/s4-operator-restore.patch" ]; then
  kc -n pricing-system patch deployment pricing-operator --type json --patch-file "$work/s4-operator-restore.patch" >/dev/null
  check "the operator rolls back to its own template" \
    s4_quiet in_cluster kubectl -n pricing-system rollout status deployment/pricing-operator --timeout=120s
  check "a replica on the real clock holds the Lease" eventually 60 s4_leader 0
  kc -n pricing-system delete configmap e2e-faketime --ignore-not-found >/dev/null
fi
check "the PricingEngine is Ready again on its original spec" \
  eventually 120 pe_ready
check "the spec is back as it was" \
  bash -c "'$e2e' exec '$cluster' -- kubectl -n pricing get pe pricing -o json | python3 -c '
import json, sys; sys.exit(0 if json.load(sys.stdin)[\"spec\"] == json.load(open(\"$work/s4-spec-original.json\")) else 1)'"
