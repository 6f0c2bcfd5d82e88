#!/usr/bin/env bash
# `make run`: starts a private PostgreSQL and Redis (scripts/services.sh),
# migrates and seeds the sample reference data, and runs the engine on :8080 in
# the foreground. Ctrl-C stops the engine and everything this script started.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build}
state=$repo/.local/run
engine=$build/engine/pricing-engine
listen=${PRICING_LISTEN:-127.0.0.1:8080}

[ -x "$engine" ] || { echo "run: $engine is missing; run 'make build' first" >&2; exit 1; }

"$repo/scripts/services.sh" down "$state" >/dev/null 2>&1 || true
"$repo/scripts/services.sh" up "$state" >/dev/null
stop() {
  trap - INT TERM EXIT
  set +e
  if [ -n "${engine_pid:-}" ]; then
    kill -TERM "$engine_pid" 2>/dev/null
    wait "$engine_pid" 2>/dev/null
  fi
  "$repo/scripts/services.sh" down "$state" >/dev/null 2>&1
  echo "run: stopped the engine, PostgreSQL and Redis" >&2
}
trap stop INT TERM EXIT
set -a
# shellcheck disable=SC1091
. "$state/services.env"
set +a
export PRICING_LISTEN=$listen PRICING_AUDIT_DIR=$state/audit-spool

"$engine" migrate
"$engine" seed "$repo/examples/data/reference-data.yaml"
"$engine" serve &
engine_pid=$!

for _ in $(seq 1 100); do
  curl -sf "http://$listen/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
cat >&2 <<MSG

run: the engine is serving on http://$listen (PostgreSQL and Redis in $state). Price a locate:

  curl -s -H 'X-API-Key: demo-key-123' -H 'Content-Type: application/json' \\
    -d '{"ticker":"GME","position_value":50000,"loan_days":60,"client_id":"big_fund_007"}' \\
    http://$listen/api/v1/calculate-locate

Ctrl-C stops everything.
MSG
wait "$engine_pid" || true
