#!/usr/bin/env bash
# Builds (or reuses) the test control plane: kube-apiserver, kube-controller-manager
# and kubectl from k8s.io/kubernetes, and etcd from go.etcd.io/etcd/server/v3, at the
# releases pinned in versions.env; and, for the one-node test cluster, the kubelet,
# kube-scheduler and kube-proxy from the same k8s.io/kubernetes release (the other
# node components come from ../node/build.sh). All are static (CGO_ENABLED=0), the
# kubelet too: upstream links it with cgo, but it builds and runs without.
# Binaries are cached per version under ${PRICING_CACHE:-~/.cache/pricing-engine}/
# so a fresh clone on the same machine reuses them. Prints the bin directory on
# the last line of stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache=${PRICING_CACHE:-$HOME/.cache/pricing-engine}
k8s_dir="$cache/k8s-$K8S_VERSION"
etcd_dir="$cache/etcd-$ETCD_VERSION"
mkdir -p "$k8s_dir/bin" "$etcd_dir/bin"
export GOFLAGS="-mod=readonly -trimpath"
export CGO_ENABLED=0

log() { echo "control-plane: $*" >&2; }

# build_one DIR OUT PKG LDFLAGS: builds PKG from module DIR into OUT unless OUT
# already exists; writes to a temporary name first so a killed build leaves nothing.
build_one() {
  local moddir=$1 out=$2 pkg=$3 ldflags=$4
  if [ -x "$out" ]; then return 0; fi
  log "building $(basename "$out") (cold builds take several minutes on 2 cores)"
  local start=$SECONDS
  (cd "$moddir" && go build -p "$(nproc)" -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg")
  mv "$out.tmp" "$out"
  log "built $(basename "$out") in $((SECONDS - start)) s"
}

k8s_minor=${K8S_VERSION#v1.}; k8s_minor=${k8s_minor%%.*}
vpkg=k8s.io/component-base/version
cvpkg=k8s.io/client-go/pkg/version
vflags=""
for p in $vpkg $cvpkg; do
  vflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$k8s_minor"
  vflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

build_one "$here/etcd" "$etcd_dir/bin/etcd" go.etcd.io/etcd/server/v3 ""
build_one "$here/k8s" "$k8s_dir/bin/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver "$vflags"
build_one "$here/k8s" "$k8s_dir/bin/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager "$vflags"
build_one "$here/k8s" "$k8s_dir/bin/kubectl" k8s.io/kubernetes/cmd/kubectl "$vflags"
build_one "$here/k8s" "$k8s_dir/bin/kube-scheduler" k8s.io/kubernetes/cmd/kube-scheduler "$vflags"
build_one "$here/k8s" "$k8s_dir/bin/kubelet" k8s.io/kubernetes/cmd/kubelet "$vflags"
build_one "$here/k8s" "$k8s_dir/bin/kube-proxy" k8s.io/kubernetes/cmd/kube-proxy "$vflags"

ln -sf "$etcd_dir/bin/etcd" "$k8s_dir/bin/etcd"
echo "$k8s_dir/bin"
