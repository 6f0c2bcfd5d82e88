#!/usr/bin/env bash
# `make bench-instructions`: the instructions one request costs the engine's
# event loop, counted by callgrind, for POST calculate-locate (PostgreSQL +
# Redis, caches warm, auth and audit on, as in `make bench`) and for the HTTP
# floor, GET /health/live, measured in the same run. Unlike requests/s on
# shared cores, the count repeats to within half a percent from run to run
# (timers and the audit commits' callbacks vary a little with the machine's
# load), so it shows a change of 1 % in the code a request runs. It counts
# user-space instructions only: no kernel time, no cache misses, no waiting.
#
# Each count is the difference of two runs of the engine under callgrind (one
# event loop, one keep-alive connection, requests one after another), one of
# BENCH_FIRST requests and one of BENCH_FIRST + BENCH_REQUESTS, the same
# requests in the same order: start-up, warm-up and shut-down cancel out.
# Ends with the line
#   ratio locate/floor instructions: X.XX
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build}
engine=$build/engine/pricing-engine
work=$repo/.bench-instructions
first=${BENCH_FIRST:-500}
requests=${BENCH_REQUESTS:-2000}
[ -x "$engine" ] || { echo "bench-instructions: build first (make build)" >&2; exit 1; }
command -v valgrind >/dev/null ||
  { echo "bench-instructions: valgrind is missing (scripts/install-deps.sh)" >&2; exit 1; }

. "$repo/scripts/lib/bench-stack.sh"
pids=()
engine_pid=
cleanup() {
  [ -z "$engine_pid" ] || kill "$engine_pid" 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bench_stack_down
}
trap cleanup EXIT
bench_stack_up "$engine"

# count KIND N: runs the engine under callgrind for N requests of KIND
# (locate or get) and sets `counted` to the instructions of its event loop's
# thread. Not in a subshell, so the EXIT trap can stop the engine it started.
count() {
  local kind=$1 n=$2 out="$work/callgrind-$1-$2" port
  rm -rf "$out"; mkdir -p "$out"
  port=$(free_port)
  PRICING_THREADS=1 PRICING_LISTEN=127.0.0.1:$port \
  PRICING_LENDER_API_URL=http://127.0.0.1:$lender_port \
  PRICING_MARKET_API_URL=http://127.0.0.1:$lender_port \
  PRICING_EVENTS_API_URL=http://127.0.0.1:$lender_port \
  PRICING_AUDIT_DIR=$work/audit \
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out/callgrind.%p" \
      "$engine" serve >"$out/engine.log" 2>&1 &
  engine_pid=$!
  local ready=
  for _ in $(seq 1 600); do
    if curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null; then ready=1; break; fi
    kill -0 "$engine_pid" 2>/dev/null || break
    sleep 0.2
  done
  [ -n "$ready" ] || { echo "bench-instructions: the engine did not start; see $out/engine.log" >&2; exit 1; }
  if [ "$kind" = locate ]; then
    python3 "$repo/tests/load/sequential.py" "http://127.0.0.1:$port/api/v1/calculate-locate" "$n" locate "$BENCH_KEY"
  else
    python3 "$repo/tests/load/sequential.py" "http://127.0.0.1:$port/health/live" "$n" get
  fi
  kill -TERM "$engine_pid"
  wait "$engine_pid" || true
  engine_pid=
  # The event loop is the one thread started by HttpServer::Start's lambda.
  local loop
  loop=$(grep -l 'HttpServer::Start\[abi:cxx11\]()::{lambda()#1}> > >::_M_run' "$out"/callgrind.* | head -1)
  [ -n "$loop" ] || { echo "bench-instructions: no event loop thread in $out" >&2; exit 1; }
  counted=$(awk '/^summary:/{print $2; exit}' "$loop")
}

# per_request KIND: sets `per` to the instructions of one request of KIND.
per_request() {
  local kind=$1 a
  count "$kind" "$first"
  a=$counted
  count "$kind" "$((first + requests))"
  per=$(((counted - a) / requests))
}

per_request locate
locate=$per
per_request get
floor=$per
echo "instructions per request on the event loop (callgrind; requests $((first + 1))..$((first + requests)) of one connection):"
printf '  %-32s %8d\n' "POST /api/v1/calculate-locate" "$locate" "GET /health/live" "$floor"
python3 -c "print(f'ratio locate/floor instructions: {$locate / $floor:.2f}')"
