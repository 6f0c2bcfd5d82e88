# Shared helpers for cluster test scripts: assertions, polling and a summary
# line ("N passed, N failed") that CTest logs show.
passed=0
failed=0
failures=()

pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); failures+=("$*"); echo "FAIL: $*"; }

# check NAME COMMAND...: runs COMMAND, records pass or fail.
check() {
  local name=$1; shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}

# eventually SECONDS COMMAND...: true once COMMAND succeeds within SECONDS.
eventually() {
  local secs=$1; shift
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.25
  done
}

summary() {
  echo
  for f in "${failures[@]}"; do echo "failed: $f"; done
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
