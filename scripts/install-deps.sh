#!/usr/bin/env bash
# Installs every Debian package the build, the local stack and the tests use.
# Idempotent: installs only what is missing, and runs apt-get update only then.
# Also checks the Go toolchain the test control plane is built with.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ca-certificates curl clang-format
  # scripts/static-deps/build.sh unpacks and patches Debian source packages
  patch xz-utils
  # engine and operator libraries (see docs/design.md §1)
  libcpprest-dev nlohmann-json3-dev libyaml-cpp-dev libpq-dev libhiredis-dev
  prometheus-cpp-dev libhowardhinnant-date-dev libboost-dev libboost-system-dev
  libgtest-dev libgmock-dev libssl-dev libjemalloc-dev tzdata
  # services the local stack and the tests start
  postgresql postgresql-client redis-server redis-tools nginx-light
  # test and benchmark tooling
  wrk procps psmisc iproute2 jq python3 python3-yaml python3-pytest util-linux bc openssl
  # scripts/pytools.sh: the venv of tests/api/schema (schemathesis from PyPI)
  python3-venv
  # make bench-instructions counts a request's instructions with callgrind
  valgrind
  # tests/fuzz/run.sh: libFuzzer targets built with clang; libclang-rt-16-dev
  # holds the sanitizer and libFuzzer runtimes, llvm-16 the symbolizer that
  # makes crash stacks readable
  clang-16 libclang-rt-16-dev libfuzzer-16-dev llvm-16
  # runs the operator at a chosen wall-clock time in tests/cluster/policy_test.sh
  faketime
  # promtool for tests/monitoring and tests/cluster/manifests_test.sh; the
  # server itself is the e2e cluster's Prometheus (scripts/e2e.sh)
  prometheus
  # the e2e cluster's node (scripts/e2e.sh): the OCI runtime under containerd,
  # and the iptables kube-proxy and the CNI plugins program inside its namespace
  runc iptables
  # make images (scripts/images/build.sh): daemonless image builds on base
  # images made from Debian packages
  buildah mmdebstrap
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # policy-rc.d keeps the packages' own services from starting: the project
  # starts private instances on free ports itself.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Go builds only test infrastructure (kube-apiserver, kube-controller-manager, etcd).
if ! command -v go >/dev/null 2>&1; then
  echo "install-deps: Go >= 1.26 is required to build the test control plane; install it and retry" >&2
  exit 1
fi
gover=$(go env GOVERSION); gover=${gover#go}
if [ "$(printf '%s\n' 1.26 "$gover" | sort -V | head -1)" != 1.26 ]; then
  echo "install-deps: Go $gover found, >= 1.26 required (k8s.io/kubernetes needs it)" >&2
  exit 1
fi
