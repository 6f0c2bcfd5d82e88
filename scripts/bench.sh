#!/usr/bin/env bash
# `make bench`: the engine (PostgreSQL + Redis, caches warm, auth and audit on)
# against nginx serving a fixed 200-byte JSON, both driven by wrk on loopback
# at 32, 128 and 1000 connections with the same request script (the same POST
# bodies and headers, so the client's cost per request is the same). Ends with
#   ratio engine/nginx: X.XX
#   engine p99 ms at 128 connections: Y
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$repo/build}
engine=$build/engine/pricing-engine
work=$repo/.bench
duration=${BENCH_DURATION:-10s}
threads=${BENCH_THREADS:-2}
[ -x "$engine" ] || { echo "bench: build first (make build)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench: wrk is missing (scripts/install-deps.sh)" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

. "$repo/scripts/lib/bench-stack.sh"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bench_stack_down
}
trap cleanup EXIT
bench_stack_up "$engine"

nginx_port=$(free_port)
mkdir -p "$work/nginx"
body='{"status":"success","ticker":"GME","client_id":"big_fund_007","total_fee":1535.17,"breakdown":{"borrow_cost":1423.97,"markup":71.20,"transaction_fees":40.00},"borrow_rate_used":0.17325,"day_count":365}'
cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$nginx_port reuseport;
    location / { default_type application/json; return 200 '$body'; }
  }
}
NGINX
nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' & pids+=($!)
nginx_pid=$!

engine_port=$(free_port)
PRICING_LISTEN=127.0.0.1:$engine_port \
PRICING_LENDER_API_URL=http://127.0.0.1:$lender_port \
PRICING_MARKET_API_URL=http://127.0.0.1:$lender_port \
PRICING_EVENTS_API_URL=http://127.0.0.1:$lender_port \
PRICING_AUDIT_DIR=$work/audit \
  "$engine" serve >"$work/engine.log" 2>&1 & pids+=($!)
engine_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$engine_port/health/ready" >/dev/null && break; sleep 0.1; done

# Warm the caches: every ticker/client pair once.
wrk -t1 -c4 -d2s -s "$repo/tests/load/locate.lua" "http://127.0.0.1:$engine_port/api/v1/calculate-locate" >/dev/null

# The processes whose CPU time per request the 128-connection runs account
# for (tests/load/wrk_cpu.py), with wrk's own and the machine's.
cpu_watch=(--process "engine=$engine_pid" --process "PostgreSQL=$PRICING_PG_PID+children"
           --process "Redis=$PRICING_REDIS_PID+children" --process "nginx=$nginx_pid+children")
cpu_runs=0

# run NAME URL CONNS [SCRIPT [CPU_OUT]]: prints "rps p99_ms socket_errors non2xx";
# with CPU_OUT, also writes there where the run's CPU time went.
run() {
  local name=$1 url=$2 conns=$3 script=${4:-} cpu_out=${5:-}
  local out="$work/wrk-$name-$conns.txt"
  local t=$threads; [ "$conns" -ge "$t" ] || t=$conns
  local wrk_cmd=(wrk -t"$t" -c"$conns" -d"$duration" --latency ${script:+-s "$script"} "$url")
  if [ -n "$cpu_out" ]; then
    python3 "$repo/tests/load/wrk_cpu.py" run --out "$cpu_out" "${cpu_watch[@]}" -- "${wrk_cmd[@]}" >"$out" 2>&1
  else
    "${wrk_cmd[@]}" >"$out" 2>&1
  fi
  python3 - "$out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def ms(v):
    n, unit = re.match(r"([\d.]+)(\w+)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]
p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
socket_errors = sum(int(x) for x in errs.groups()) if errs else 0
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(rps, p99, socket_errors, int(non2xx.group(1)) if non2xx else 0)
PY
}

# The engine's own histograms, one line per bucket: the spool's fdatasyncs and
# the calculate-locate requests.
engine_histograms() {
  curl -s "http://127.0.0.1:$engine_port/metrics" |
    grep -E '^(audit_spool_sync_duration_seconds_bucket|http_request_duration_seconds_bucket\{route="/api/v1/calculate-locate")' || true
}

# At 128 connections, the figures the run ends with, nginx and the engine take
# turns three times (BENCH_PAIRS) and the ratio and p99 are the medians of the
# pairs: on shared cores one pair's ratio can be off by a tenth either way.
pairs=${BENCH_PAIRS:-3}
echo "connections  nginx_rps  engine_rps  ratio  nginx_p99_ms  engine_p99_ms  engine_socket_errors  engine_non2xx"
ratios128=(); p99s128=()
for c in 32 128 1000; do
  reps=1; [ "$c" = 128 ] && reps=$pairs
  [ "$c" = 128 ] && engine_histograms >"$work/histograms-before.txt"
  for _ in $(seq 1 "$reps"); do
    n_cpu=; e_cpu=
    if [ "$c" = 128 ]; then
      cpu_runs=$((cpu_runs + 1))
      n_cpu="$work/cpu-nginx-$cpu_runs.json"; e_cpu="$work/cpu-engine-$cpu_runs.json"
    fi
    read -r n_rps n_p99 n_err n_bad < <(run nginx "http://127.0.0.1:$nginx_port/" "$c" "$repo/tests/load/locate.lua" "$n_cpu")
    read -r e_rps e_p99 e_err e_bad < <(run engine "http://127.0.0.1:$engine_port/api/v1/calculate-locate" "$c" "$repo/tests/load/locate.lua" "$e_cpu")
    ratio=$(python3 -c "print(f'{$e_rps/$n_rps:.2f}')")
    printf '%11s  %9.0f  %10.0f  %5s  %12.2f  %13.2f  %20s  %13s\n' "$c" "$n_rps" "$e_rps" "$ratio" "$n_p99" "$e_p99" "$e_err" "$e_bad"
    if [ "$c" = 128 ]; then
      ratios128+=("$ratio"); p99s128+=("$e_p99")
      cat "$work/wrk-engine-128.txt" >>"$work/wrk-engine-128-pairs.txt"
    fi
  done
  [ "$c" = 128 ] && engine_histograms >"$work/histograms-after.txt"
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
ratio128=$(median "${ratios128[@]}"); p99_128=$(median "${p99s128[@]}")
if [ "$pairs" -gt 1 ]; then
  echo "at 128 connections, $pairs pairs: ratios ${ratios128[*]}; engine p99 ms ${p99s128[*]}; the lines below take the medians"
fi
pending=$(curl -s "http://127.0.0.1:$engine_port/metrics" | awk '/^audit_records_pending /{print $2}')
echo "audit records pending at the end: ${pending:-?}"
# Each group commit's fdatasync holds every price of the commit: its tail is
# the disk's share of the engine's tail latency.
python3 - "$work/histograms-before.txt" "$work/histograms-after.txt" "$work/wrk-engine-128-pairs.txt" <<'PY'
import re, sys
def buckets(path, metric):
    out = {}
    for line in open(path):
        m = re.match(metric + r'_bucket\{(?:[^}]*,)?le="([^"]+)"\} (\S+)', line)
        if m:
            out[float(m.group(1))] = float(m.group(2))
    return out
def delta(metric):
    before, after = buckets(sys.argv[1], metric), buckets(sys.argv[2], metric)
    d = sorted((le, after[le] - before.get(le, 0)) for le in after)
    return d, (d[-1][1] if d else 0)
def upper(d, total, q):
    for le, n in d:
        if n >= q * total:
            return "over 1000" if le == float("inf") else f"{le * 1000:g}"
requests = sum(int(n) for n in re.findall(r"(\d+) requests in", open(sys.argv[3]).read()))
d, total = delta("audit_spool_sync_duration_seconds")
if total <= 0:
    print("audit fdatasync at 128 connections: none (audit_sync is not fsync)")
else:
    over10 = total - next(n for le, n in d if le >= 0.01)
    print(f"audit fdatasync at 128 connections: {total:.0f} group commits"
          + (f" ({requests / total:.1f} records each)" if requests else "")
          + f", p50 <= {upper(d, total, 0.5)} ms, p99 <= {upper(d, total, 0.99)} ms,"
          + f" slowest <= {upper(d, total, 1)} ms, {over10:.0f} over 10 ms")
# wrk's percentiles include its coordinated-omission correction: for every
# response slower than twice the mean time per request of one connection, it
# adds the samples a client sending at that fixed pace would have seen. The
# engine's histogram counts each request once.
d, total = delta("http_request_duration_seconds")
if total > 0:
    print(f"engine's own histogram at 128 connections (each request once, from its parsed request"
          f" to its response, audit commit included): p50 <= {upper(d, total, 0.5)} ms,"
          f" p99 <= {upper(d, total, 0.99)} ms, p99.9 <= {upper(d, total, 0.999)} ms")
PY
# Where the CPU time of the 128-connection runs went, per request.
python3 "$repo/tests/load/wrk_cpu.py" report "CPU us per request at 128 connections, engine runs" \
  "$work"/cpu-engine-*.json
python3 "$repo/tests/load/wrk_cpu.py" report "CPU us per request at 128 connections, nginx runs" \
  "$work"/cpu-nginx-*.json
# The ratio target as a time budget: at 0.50 a price may take twice what
# nginx's request takes of the same two cores, wrk's share included.
python3 "$repo/tests/load/wrk_cpu.py" budget 0.50 "$work"/cpu-engine-*.json -- "$work"/cpu-nginx-*.json
# The HTTP floor: the engine's cheapest route (GET /health/live: no body, no
# key, no pricing, no audit) against nginx, both as a plain GET without the
# script. What the engine spends here every request pays; the rest of a
# price's cost is its own.
read -r fn_rps _ < <(run nginx-get "http://127.0.0.1:$nginx_port/" 128 "" "$work/cpu-floor-nginx.json")
read -r fe_rps _ < <(run engine-get "http://127.0.0.1:$engine_port/health/live" 128 "" "$work/cpu-floor-engine.json")
echo "HTTP floor at 128 connections (plain GET): nginx $(printf '%.0f' "$fn_rps") rps, engine GET /health/live $(printf '%.0f' "$fe_rps") rps, ratio $(python3 -c "print(f'{$fe_rps/$fn_rps:.2f}')")"
python3 "$repo/tests/load/wrk_cpu.py" report "CPU us per request, GET /health/live" "$work/cpu-floor-engine.json"
python3 "$repo/tests/load/wrk_cpu.py" report "CPU us per request, nginx's plain GET" "$work/cpu-floor-nginx.json"
echo "ratio engine/nginx: $ratio128"
echo "engine p99 ms at 128 connections: $p99_128"

# --- Role split: gateway -> calculation -> data / audit (+ cache) -----------
# The same request script against the five split roles as separate processes
# (Redis database 1, so they share no cache with the `all` engine above) and,
# in the same run, against the `all` engine again. Ends with
#   ratio split/all: X.XX
split_token=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
split_redis=${PRICING_REDIS_URL%/*}/1
declare -A split_port
for role in data audit calculation cache gateway; do split_port[$role]=$(free_port); done
split_start() {
  local role=$1; shift
  env PRICING_ROLE="$role" PRICING_LISTEN="127.0.0.1:${split_port[$role]}" \
    PRICING_INTERNAL_TOKEN="$split_token" "$@" "$engine" serve >"$work/split-$role.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:${split_port[$role]}/health/live" >/dev/null && return 0
    sleep 0.1
  done
  echo "bench: the $role role did not start (see $work/split-$role.log)" >&2
  exit 1
}
split_lender=http://127.0.0.1:$lender_port
split_start data PRICING_LENDER_API_URL="$split_lender" PRICING_MARKET_API_URL="$split_lender" \
  PRICING_EVENTS_API_URL="$split_lender"
split_start audit
split_start calculation PRICING_DATABASE_URL= PRICING_REDIS_URL="$split_redis" \
  PRICING_DATA_URL="http://127.0.0.1:${split_port[data]}" \
  PRICING_AUDIT_URL="http://127.0.0.1:${split_port[audit]}" PRICING_AUDIT_DIR="$work/split-audit"
split_start cache PRICING_DATABASE_URL= PRICING_REDIS_URL="$split_redis" \
  PRICING_DATA_URL="http://127.0.0.1:${split_port[data]}"
split_start gateway PRICING_DATABASE_URL= PRICING_REDIS_URL="$split_redis" \
  PRICING_DATA_URL="http://127.0.0.1:${split_port[data]}" \
  PRICING_CALCULATION_URL="http://127.0.0.1:${split_port[calculation]}"
split_url="http://127.0.0.1:${split_port[gateway]}/api/v1/calculate-locate"
all_url="http://127.0.0.1:$engine_port/api/v1/calculate-locate"
wrk -t1 -c4 -d2s -s "$repo/tests/load/locate.lua" "$split_url" >/dev/null

# split_run NAME URL: prints "rps p99_ms non2xx" at 128 connections.
split_run() {
  local out="$work/wrk-split-$1.txt"
  wrk -t"$threads" -c128 -d"$duration" --latency -s "$repo/tests/load/locate.lua" "$2" >"$out" 2>&1
  python3 - "$out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
n, unit = re.match(r"([\d.]+)(\w+)", re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1)).groups()
p99 = float(n) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(rps, p99, int(bad.group(1)) if bad else 0)
PY
}
read -r a_rps a_p99 a_bad < <(split_run all "$all_url")
read -r s_rps s_p99 s_bad < <(split_run gateway "$split_url")
echo
echo "role split at 128 connections  all_rps  split_rps  all_p99_ms  split_p99_ms  split_non2xx"
printf '%29s  %7.0f  %9.0f  %10.2f  %12.2f  %12s\n' "" "$a_rps" "$s_rps" "$a_p99" "$s_p99" "$s_bad"
echo "ratio split/all: $(python3 -c "print(f'{$s_rps/$a_rps:.2f}')")"
