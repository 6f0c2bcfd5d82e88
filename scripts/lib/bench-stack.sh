# Sourced by scripts/bench.sh and scripts/bench-instructions.sh: the local
# stack a benchmark prices against. Expects `repo` and `work` (removed and
# recreated here) and an array `pids` of what its EXIT trap kills.
#
# bench_stack_up: PostgreSQL and Redis in $work/services (their settings
# exported), the test reference data and a bench-only internal key seeded
# (BENCH_KEY), and the fake lender, market and events API on $lender_port.
# bench_stack_down: stops the services (for the EXIT trap).

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

bench_stack_up() {
  local engine=$1
  rm -rf "$work"; mkdir -p "$work"
  "$repo/scripts/services.sh" up "$work/services" >/dev/null
  set -a; . "$work/services/services.env"; set +a
  "$engine" seed "$repo/tests/api/testdata/reference-data.yaml" >/dev/null
  # A bench-only internal key whose per-minute limit no run can exhaust: the
  # figures measure pricing, not 429s.
  cat >"$work/bench-key.yaml" <<'YAML'
api_keys:
  - {key: bench-key-001, client_id: desk_bench, rate_limit_per_minute: 1000000000, scope: internal}
YAML
  "$engine" seed "$work/bench-key.yaml" >/dev/null
  export BENCH_KEY=bench-key-001
  lender_port=$(free_port)
  python3 "$repo/tests/load/lender.py" "$lender_port" & pids+=($!)
}

bench_stack_down() {
  "$repo/scripts/services.sh" down "$work/services" >/dev/null 2>&1 || true
}
