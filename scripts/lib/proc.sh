# Process helpers shared by scripts/cluster.sh and scripts/e2e.sh.

# running PIDFILE: true while the process in PIDFILE exists and is not a zombie.
# Used during start-up, where the child may not have exec'd its binary yet (its
# command line is still the starting script's), so it cannot be checked by name.
running() {
  local pid state
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ "$state" != Z ]
}
