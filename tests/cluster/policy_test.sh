#!/usr/bin/env bash
# Scaling policy over time against a real control plane (etcd, kube-apiserver,
# kube-controller-manager):
#  - a market phase that starts 20 seconds after the operator's "now": the
#    HPA's minReplicas changes at the boundary (never before it; the delay is
#    measured and printed), a PolicyTransition Event is recorded, and
#    kube-controller-manager's HPA controller scales the Deployment to the new
#    floor;
#  - a `url` volatility source served by a local HTTP server moving
#    20 -> 32 -> 28 -> 25 walks the regimes with hysteresis and minHold, and
#    a source that stops answering goes stale with the regime held.
#
# Phases apply on trading days only, and this test must pass on any day of
# the week, so the operator runs under libfaketime shifted to the next weekday
# (a fixed offset from the real clock, monotonic clock untouched). The test
# converts the real time at which it sees each change into the operator's
# time with the same offset.
#
#   bash tests/cluster/policy_test.sh PRICING_OPERATOR_BINARY [WORKDIR]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
operator=$1
work=${2:-$(mktemp -d)}
. "$here/lib.sh"

# libfaketime is preloaded directly (not through the `faketime` wrapper, which
# forks) so that the PID the test stops is the operator's own.
libfaketime=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1)
if [ -z "$libfaketime" ]; then
  fail "libfaketime is installed (package faketime, scripts/install-deps.sh)"; summary; exit 1
fi
operator_cluster_up
# is OBJECT JSONPATH VALUE: the field has the value now (re-read on every call,
# so `eventually N is ...` polls).
is() { [ "$(jp "$1" "$2")" = "$3" ]; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The operator's clock: the next weekday (UTC) at 13:59:40, i.e. 20 s before
# a phase that starts at 14:00 UTC. Whole seconds, so the offset is exact.
read -r offset boundary boundary_epoch < <(python3 - <<'EOF'
import datetime as dt, time
now = int(time.time())
day = dt.datetime.fromtimestamp(now, dt.timezone.utc).date() + dt.timedelta(days=1)
while day.weekday() >= 5:
    day += dt.timedelta(days=1)
boundary = dt.datetime(day.year, day.month, day.day, 14, 0, 0, tzinfo=dt.timezone.utc)
b = int(boundary.timestamp())
print(b - 20 - now, boundary.strftime("%Y-%m-%dT%H:%M:%SZ"), b)
EOF
)
echo "operator clock: real + ${offset}s; phase boundary at $boundary"

m=$(port); h=$(port)
LD_PRELOAD=$libfaketime FAKETIME="+${offset}" FAKETIME_DONT_FAKE_MONOTONIC=1 \
  "$operator" run --kubeconfig "$KUBECONFIG" --metrics-addr "127.0.0.1:$m" \
  --health-addr "127.0.0.1:$h" --volatility-allow 127.0.0.1/32 --volatility-allow-http \
  >"$work/operator.log" 2>&1 &
pids+=($!)
check "the operator (under faketime) becomes ready" \
  eventually 30 curl -sf "http://127.0.0.1:$h/readyz"

# --- A phase 20 seconds ahead ---------------------------------------------------
ns=phase
k create namespace $ns >/dev/null
cat >"$work/phase.yaml" <<EOF
apiVersion: pricing.borrowrate.io/v1alpha1
kind: PricingEngine
metadata: {name: clock, namespace: $ns}
spec:
  image: registry.example.com/pricing-engine:1.0.0
  components:
  - {name: api, role: gateway, replicas: {min: 1, max: 6}}
  marketHours:
    timeZone: Etc/UTC
    calendar: none
    phases:
    - {name: Burst, start: "14:00", end: "15:00", minReplicas: {api: 3}}
EOF
# Every value the HPA's minReplicas takes, stamped with the real time it was seen.
( k get hpa/clock-api -n $ns -w --request-timeout=0 -o jsonpath='{.spec.minReplicas}{"\n"}' 2>/dev/null |
    while read -r v; do echo "$(date +%s.%N) $v"; done ) >"$work/min.log" &
watch_pid=$!
pids+=($watch_pid)
k apply -n $ns -f "$work/phase.yaml" >/dev/null
# The watch above may have started before the HPA existed; restart it once it does.
eventually 20 k get hpa/clock-api -n $ns
kill $watch_pid 2>/dev/null
( k get hpa/clock-api -n $ns -w --request-timeout=0 -o jsonpath='{.spec.minReplicas}{"\n"}' 2>/dev/null |
    while read -r v; do echo "$(date +%s.%N) $v"; done ) >"$work/min.log" &
pids+=($!)

check "before the boundary the HPA has the base floor (1)" \
  eventually 10 is hpa/clock-api '{.spec.minReplicas}' 1
check "status.nextTransitions announces the phase at the boundary" \
  eventually 10 bash -c "kubectl get pe/clock -n $ns -o jsonpath='{.status.nextTransitions[*].at}' | grep -qw $boundary"
check "status.marketPhase is Closed before the boundary" \
  test "$(jp pe/clock '{.status.marketPhase}')" = Closed
floor_raised() { grep -q ' 3$' "$work/min.log"; }
check "the HPA's minReplicas becomes 3 at the boundary" eventually 60 floor_raised
seen=$(awk '$2 == 3 { print $1; exit }' "$work/min.log")
if [ -n "$seen" ]; then
  delay=$(python3 -c "print(f'{$seen + $offset - $boundary_epoch:.3f}')")
  echo "phase boundary -> HPA minReplicas changed: ${delay} s after the boundary (operator's clock)"
  check "the floor did not change before the boundary (delay ${delay} s >= 0)" \
    python3 -c "import sys; sys.exit(0 if $delay >= 0 else 1)"
fi
check "status.marketPhase is Burst" \
  eventually 10 is pe/clock '{.status.marketPhase}' Burst
check "a PolicyTransition Event says Closed -> Burst" \
  eventually 10 bash -c "kubectl get events.events.k8s.io -n $ns -o jsonpath='{range .items[?(@.reason==\"PolicyTransition\")]}{.note}{\"\n\"}{end}' | grep -qx 'market phase Closed -> Burst'"
check "the component's reasons name the phase" \
  bash -c "kubectl get pe/clock -n $ns -o jsonpath='{.status.components[0].reasons}' | grep -q Burst"
check "kube-controller-manager's HPA controller scales the Deployment to the new floor (3)" \
  eventually 90 is deployment/clock-api '{.spec.replicas}' 3

# --- A url volatility source walking the regimes --------------------------------
ns=vol
k create namespace $ns >/dev/null
echo 20 >"$work/vix"
vport=$(port)
python3 - "$vport" "$work/vix" >"$work/vix-server.log" 2>&1 <<'EOF' &
import http.server, json, sys
port, path = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/market":
            self.send_error(404); return
        with open(path) as f:
            body = json.dumps({"index": "VIX", "data": {"vix": float(f.read())}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
EOF
vix_pid=$!
pids+=($vix_pid)
eventually 10 curl -sf "http://127.0.0.1:$vport/market"
cat >"$work/vol.yaml" <<EOF
apiVersion: pricing.borrowrate.io/v1alpha1
kind: PricingEngine
metadata: {name: vix, namespace: $ns}
spec:
  image: registry.example.com/pricing-engine:1.0.0
  components:
  - {name: calc, role: calculation, replicas: {min: 1, max: 10}}
  volatility:
    source: {url: {url: "http://127.0.0.1:$vport/market", jsonPointer: /data/vix}}
    pollInterval: 1s
    minHold: 6s
    regimes:
    - {name: Elevated, enterAbove: 22, exitBelow: 20, minReplicas: {calc: 2}}
    - {name: High, enterAbove: 30, exitBelow: 26, minReplicas: {calc: 4}, maxReplicas: {calc: 12}}
EOF
k apply -n $ns -f "$work/vol.yaml" >/dev/null
value_is() { [ "$(jp pe/vix '{.status.volatility.value}')" = "$1" ]; }
bounds() { jp hpa/vix-calc '{.spec.minReplicas}..{.spec.maxReplicas}'; }
bounds_are() { [ "$(bounds)" = "$1" ]; }

check "at 20 the value is read from the url source" eventually 20 value_is 20
check "at 20 no regime is active and the HPA has the base bounds (1..10)" \
  bash -c "[ -z \"\$(kubectl get pe/vix -n $ns -o jsonpath='{.status.volatility.regime}')\" ] && [ \"\$(kubectl get hpa/vix-calc -n $ns -o jsonpath='{.spec.minReplicas}..{.spec.maxReplicas}')\" = 1..10 ]"
check "VolatilitySourceHealthy=True" \
  test "$(jp pe/vix '{.status.conditions[?(@.type=="VolatilitySourceHealthy")].status}')" = True

echo 32 >"$work/vix"
check "at 32 the regime steps straight up to High" \
  eventually 20 is pe/vix '{.status.volatility.regime}' High
check "High's bounds reach the HPA (4..12)" eventually 20 bounds_are 4..12
high_since=$(jp pe/vix '{.status.volatility.regimeSince}')

echo 28 >"$work/vix"
check "at 28 the value is read" eventually 20 value_is 28
check "at 28 High is held (above its exitBelow 26)" \
  test "$(jp pe/vix '{.status.volatility.regime}')" = High

echo 25 >"$work/vix"
check "at 25 the value is read" eventually 20 value_is 25
check "at 25 the regime steps down to Elevated once minHold (6s) has passed" \
  eventually 30 is pe/vix '{.status.volatility.regime}' Elevated
elevated_since=$(jp pe/vix '{.status.volatility.regimeSince}')
check "High was held for at least minHold ($high_since -> $elevated_since)" \
  python3 -c "
import datetime as dt, sys
p = lambda s: dt.datetime.fromisoformat(s.replace('Z', '+00:00'))
sys.exit(0 if (p('$elevated_since') - p('$high_since')).total_seconds() >= 6 else 1)"
check "Elevated's bounds reach the HPA (2..10)" eventually 20 bounds_are 2..10
check "the regime Events are (none) -> High, then High -> Elevated, in that order" \
  bash -c "[ \"\$(kubectl get events.events.k8s.io -n $ns --sort-by=.metadata.creationTimestamp -o jsonpath='{range .items[?(@.reason==\"PolicyTransition\")]}{.note};{end}')\" = 'volatility regime (none) -> High;volatility regime High -> Elevated;' ]"

# The source stops answering: after three poll intervals it is stale, the
# condition says so, and the regime in force is held.
kill $vix_pid 2>/dev/null
check "a dead source makes VolatilitySourceHealthy=False" \
  eventually 30 is pe/vix '{.status.conditions[?(@.type=="VolatilitySourceHealthy")].status}' False
check "the condition says the regime is held" \
  bash -c "kubectl get pe/vix -n $ns -o jsonpath='{.status.conditions[?(@.type==\"VolatilitySourceHealthy\")].message}' | grep -q 'holding regime Elevated'"
check "the regime in force (Elevated) is held" \
  test "$(jp pe/vix '{.status.volatility.regime}')" = Elevated
check "the HPA keeps Elevated's bounds (2..10)" test "$(bounds)" = 2..10

# A source the installer did not allow (--volatility-allow 127.0.0.1/32): the
# cluster's own API server, by its Service address. Nothing is fetched; the
# condition gives the reason, naming the flag, and no content of any answer.
api_ip=$(kubectl get service kubernetes -n default -o jsonpath='{.spec.clusterIP}')
sed -e 's/name: vix,/name: internal,/' \
  -e "s|http://127.0.0.1:$vport/market|https://$api_ip/api/v1/namespaces/kube-system/secrets|" \
  "$work/vol.yaml" | k apply -n $ns -f - >/dev/null
refused_source() {
  jp pe/internal '{.status.conditions[?(@.type=="VolatilitySourceHealthy")].message}' |
    grep -q "host $api_ip is not allowed for volatility sources (--volatility-allow)"
}
check "a url source on a host not allowed is refused, the reason naming --volatility-allow" \
  eventually 30 refused_source
check "... and VolatilitySourceHealthy=False" \
  is pe/internal '{.status.conditions[?(@.type=="VolatilitySourceHealthy")].status}' False

if [ "$failed" -gt 0 ]; then
  echo "--- operator log (tail)"; tail -n 40 "$work/operator.log"
fi
summary
