#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (a build of its own, PRICING_FUZZ=ON,
# reused between runs), replays every committed crash input of
# tests/fuzz/regressions/<target>/, then fuzzes each target for a bounded time
# from its committed corpus, tests/fuzz/corpus/<target>/. New inputs go to a
# scratch corpus in the build directory, never into the committed one.
#
# Usage: tests/fuzz/run.sh [BUILD_DIR]     (default: build-fuzz at the root)
# Environment:
#   FUZZ_SECONDS   fuzzing time per target (default 15; 0 only replays)
#   FUZZ_TARGETS   the targets to run, space-separated (default: all)
#   FUZZ_SEED      libFuzzer's seed (default 1; 0: a random one)
#   FUZZ_JOBS      build jobs (default 2)
#   FUZZ_KEEP=1    keep each scratch corpus for the next run
# A crash, leak or timeout fails the run; its input is left in
# BUILD_DIR/artifacts/<target>/ (copy it to regressions/<target>/ once fixed).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-15}
# A fixed seed by default, so that `make test` explores the same inputs on
# every run and fails only for a change; FUZZ_SEED=0 lets libFuzzer pick one.
seed=${FUZZ_SEED:-1}
jobs=${FUZZ_JOBS:-2}
all_targets=(http_request json_body decimal query_string rfc3339 audit_record spool_segment
             internal_api engine_config reference_data operator_yaml operator_spec kubeconfig)
read -r -a targets <<<"${FUZZ_TARGETS:-${all_targets[*]}}"

for tool in clang-16 clang++-16 cmake ninja; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "fuzz: $tool not found; run scripts/install-deps.sh (clang-16, libfuzzer-16-dev)" >&2
    exit 1
  fi
done

started=$(date +%s)
mkdir -p "$build"
if [ ! -f "$build/build.ninja" ]; then
  CC=clang-16 CXX=clang++-16 cmake -S "$root" -B "$build" -G Ninja \
    -DPRICING_FUZZ=ON -DCMAKE_BUILD_TYPE=Fuzz >"$build/fuzz-configure.log" 2>&1 ||
    { cat "$build/fuzz-configure.log" >&2; exit 1; }
elif ! grep -q '^PRICING_FUZZ:BOOL=ON' "$build/CMakeCache.txt"; then
  echo "fuzz: $build is not a PRICING_FUZZ build; pass another directory" >&2
  exit 1
fi
build_targets=()
for t in "${targets[@]}"; do build_targets+=("${t}_fuzz"); done
if ! cmake --build "$build" -j "$jobs" --target "${build_targets[@]}" >"$build/fuzz-build.log" 2>&1; then
  cat "$build/fuzz-build.log" >&2
  exit 1
fi
echo "fuzz: build $(($(date +%s) - started)) s"

symbolizer=/usr/lib/llvm-16/bin/llvm-symbolizer
[ -x "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH=$symbolizer UBSAN_SYMBOLIZER_PATH=$symbolizer
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export TMPDIR=$build/tmp
mkdir -p "$TMPDIR"

failed=()
summary=()
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/${t}_fuzz
  log=$build/logs/$t.log
  mkdir -p "$build/logs" "$build/artifacts/$t"

  # Every committed crash input must now pass.
  regressions=()
  if [ -d "$here/regressions/$t" ]; then
    while IFS= read -r -d '' f; do regressions+=("$f"); done \
      < <(find "$here/regressions/$t" -type f -print0 | sort -z)
  fi
  if [ ${#regressions[@]} -gt 0 ]; then
    if ! "$bin" -runs=1 "${regressions[@]}" >"$log.regressions" 2>&1; then
      echo "fuzz: $t: a committed regression input fails again:" >&2
      tail -n 60 "$log.regressions" >&2
      failed+=("$t (regression)")
      continue
    fi
  fi
  [ "$seconds" -gt 0 ] || { summary+=("$t: ${#regressions[@]} regression inputs replayed"); continue; }

  scratch=$build/corpus/$t
  [ "${FUZZ_KEEP:-0}" = 1 ] || rm -rf "$scratch"
  mkdir -p "$scratch"
  dict=()
  [ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
  # The first corpus directory receives new inputs; the committed one is only read.
  # The outer timeout catches a run that cannot stop: after an out-of-memory
  # report the leak check scans a huge heap for a very long time.
  if timeout -k 10 $((seconds + 45)) "$bin" -seed="$seed" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$build/artifacts/$t/" "${dict[@]}" "$scratch" "$here/corpus/$t" \
      >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
    echo "fuzz: $t failed; input in $build/artifacts/$t/:" >&2
    grep -v '^#[0-9]' "$log" | tail -n 80 >&2
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  summary+=("$(printf '%-15s %-6s %9s execs %7s/s  cov %5s  ft %6s  regressions %s' \
    "$t" "$status" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${#regressions[@]}")")
done

printf '%s\n' "${summary[@]}"
echo "fuzz: total $(($(date +%s) - started)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
