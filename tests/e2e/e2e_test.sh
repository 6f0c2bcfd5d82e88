#!/usr/bin/env bash
# The product on a real one-node cluster (scripts/e2e.sh): the operator and the
# engine as pods from the project's images, installed as the README says.
# One cluster serves every scenario in turn; each prints its figures as
# "FIGURE: ...". Afterwards `down` must leave nothing behind: no network
# namespace, interface, mount, firewall rule, cgroup or process.
#
#   bash tests/e2e/e2e_test.sh PRICING_ENGINE_BINARY WORKDIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
engine=$1
work=$2
. "$here/../cluster/lib.sh"

e2e=$repo/scripts/e2e.sh
# E2E_CLUSTER=DIR runs the scenarios on a cluster already up at DIR (for
# working on one scenario) and leaves it running.
if [ -n "${E2E_CLUSTER:-}" ]; then
  cluster=$(cd "$E2E_CLUSTER" && pwd)
  mkdir -p "$work"
else
  rm -rf "$work"; mkdir -p "$work"
  cluster=$work/cluster
fi
. "$here/lib.sh"

# host_state: what the host shows of namespaces, interfaces, mounts, firewall
# rules, cgroups and processes that could be the cluster's, for the
# before/after comparison (other work on the machine is filtered out).
own_cgroup=$(awk -F: '$2 == "memory" {print $3}' /proc/self/cgroup)
host_state() {
  echo "## netns"; ip netns list | awk '{print $1}' | grep '^pe2e-' | sort
  echo "## links"; ip -o link show | awk -F': ' '{print $2}' | grep -e '^veth' -e '^cni' -e node0 | sort
  echo "## mounts"; awk '{print $5}' /proc/self/mountinfo | grep -e "$work" -e pe2e- -e '^/run/netns' | sort
  echo "## iptables"; iptables-save 2>/dev/null | grep -v '^#' | sed 's/\[[0-9:]*\]//'
  echo "## nft"; nft list ruleset 2>/dev/null
  echo "## cgroups"
  find /sys/fs/cgroup -mindepth 1 -maxdepth 5 -type d 2>/dev/null |
    grep -e pe2e- ${own_cgroup:+-e "$own_cgroup"} | sort
  echo "## processes"; ps -eo args= | grep -F "$work" | grep -v -e grep -e e2e_test.sh | sort
}

# --- up ----------------------------------------------------------------------
if [ -z "${E2E_CLUSTER:-}" ]; then
host_state >"$work/host-before.txt"
t0=$SECONDS
if ! "$e2e" up "$cluster" >"$work/up.out" 2>"$work/up.err"; then
  fail "scripts/e2e.sh up brings the cluster up"
  tail -n 60 "$work/up.err"
  "$e2e" down "$cluster" >/dev/null 2>&1
  summary; exit 1
fi
pass "scripts/e2e.sh up: node Ready, DNS answers, the operator holds its lease"
figure "cluster up (binaries and images cached) in $((SECONDS - t0)) s"

check "the operator runs as 2 pods from pricing-operator:e2e" \
  bash -c "[ \"\$('$e2e' exec '$cluster' -- kubectl -n pricing-system get pods \
    -l app.kubernetes.io/name=pricing-operator \
    -o jsonpath='{range .items[*]}{.spec.containers[0].image}{\" \"}{.status.phase}{\"\\n\"}{end}' |
    grep -c '^pricing-operator:e2e Running$')\" = 2 ]"
check "kubectl top pods -A answers (metrics-server)" eventually 120 in_cluster kubectl top pods -A
"$e2e" rss "$cluster" >"$work/rss-idle.txt"
figure "cluster RSS idle, before any engine: $(awk 'NR == 1 {print $1 " MiB in " $2 " processes"}' "$work/rss-idle.txt")"
fi

# --- scenarios ---------------------------------------------------------------
# Each file in scenarios/ runs in this shell, in order; E2E_SCENARIOS="3 6"
# runs only those numbers.
for scenario in "$here"/scenarios/[0-9]*.sh; do
  number=$(basename "$scenario"); number=$((10#${number%%-*}))
  if [ -n "${E2E_SCENARIOS:-}" ] && ! [[ " $E2E_SCENARIOS " == *" $number "* ]]; then continue; fi
  echo "## scenario $(basename "$scenario" .sh)"
  t_scenario=$SECONDS
  # shellcheck disable=SC1090
  . "$scenario"
  figure "scenario $number took $((SECONDS - t_scenario)) s"
done

# The whole cluster's resident memory, with the engine back at its minimums.
"$e2e" rss "$cluster" >"$work/rss.txt"
figure "cluster RSS after the scenarios: $(awk 'NR == 1 {print $1 " MiB in " $2 " processes"}' "$work/rss.txt")" \
  "(largest: $(awk 'NR > 1 && NR <= 6 {printf "%s%s %s MiB", s, $3, $1; s = ", "}' "$work/rss.txt"))"

if [ -n "${E2E_CLUSTER:-}" ]; then summary; exit; fi

# --- down --------------------------------------------------------------------
t_down=$SECONDS
"$e2e" down "$cluster" >"$work/down.out" 2>&1 || { fail "scripts/e2e.sh down"; cat "$work/down.out"; }
figure "down in $((SECONDS - t_down)) s"
host_state >"$work/host-after.txt"
if diff -u "$work/host-before.txt" "$work/host-after.txt" >"$work/host.diff"; then
  pass "down leaves no namespace, interface, mount, firewall rule, cgroup or process behind"
else
  fail "down leaves no namespace, interface, mount, firewall rule, cgroup or process behind"
  cat "$work/host.diff"
fi
check "down removes the cluster's directory" test ! -e "$cluster"
summary
