#!/usr/bin/env bash
# Builds (or reuses) the one-node test cluster's node components from upstream
# sources at the releases pinned in versions.env: containerd, its runc shim and
# ctr; the CNI plugins bridge, host-local, loopback and portmap; CoreDNS,
# metrics-server, kube-state-metrics and prometheus-adapter. Each builds from its
# own module directory here, whose go.mod and go.sum (written by gen-gomod.sh)
# pin every dependency, so builds are reproducible with -mod=readonly. runc is
# Debian's package; the kubelet, kube-scheduler and kube-proxy come from
# ../control-plane/build.sh.
# Binaries are cached under ${PRICING_CACHE:-~/.cache/pricing-engine}/node-$key,
# where key hashes versions.env and the modules' go.mod, go.sum and tools.go, so
# a fresh clone on the same machine reuses them and a version change builds anew.
# Prints the bin directory (CNI plugins in its cni/ subdirectory) on the last
# line of stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache=${PRICING_CACHE:-$HOME/.cache/pricing-engine}
key=$(cd "$here" && LC_ALL=C sha256sum versions.env ./*/go.mod ./*/go.sum ./*/tools.go \
  | sha256sum | cut -c1-12)
bin="$cache/node-$key/bin"
mkdir -p "$bin/cni"
export GOFLAGS="-mod=readonly -trimpath"
export CGO_ENABLED=0

log() { echo "node: $*" >&2; }

# build_one DIR OUT PKG LDFLAGS [TAGS]: builds PKG from module DIR into OUT
# unless OUT already exists; writes to a temporary name first so a killed build
# leaves nothing.
build_one() {
  local moddir=$here/$1 out=$2 pkg=$3 ldflags=$4 tags=${5:-}
  if [ -x "$out" ]; then return 0; fi
  log "building $(basename "$out") (cold builds take minutes on 2 cores)"
  local start=$SECONDS
  (cd "$moddir" && go build -p "$(nproc)" -tags "$tags" -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg")
  mv "$out.tmp" "$out"
  log "built $(basename "$out") in $((SECONDS - start)) s"
}

# release_date DIR MODULE: the release's commit time (from the module proxy's
# record), stamped as the build date so that rebuilds are identical.
release_date() {
  (cd "$here/$1" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' "$2")
}

# containerd: the upstream Makefile's version stamps and build tags. btrfs needs
# cgo (the no_btrfs tag says so explicitly); the shim leaves out gRPC as upstream.
ctd=github.com/containerd/containerd/v2
ctd_flags="-X $ctd/version.Version=$CONTAINERD_VERSION -X $ctd/version.Package=$ctd"
ctd_tags="urfave_cli_no_docs no_btrfs"
build_one containerd "$bin/containerd" $ctd/cmd/containerd "$ctd_flags" "$ctd_tags"
build_one containerd "$bin/containerd-shim-runc-v2" $ctd/cmd/containerd-shim-runc-v2 "$ctd_flags" "$ctd_tags no_grpc"
build_one containerd "$bin/ctr" $ctd/cmd/ctr "$ctd_flags" "$ctd_tags"

cni=github.com/containernetworking/plugins
cni_flags="-X $cni/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION"
for p in ipam/host-local main/bridge main/loopback meta/portmap; do
  build_one cni-plugins "$bin/cni/${p#*/}" "$cni/plugins/$p" "$cni_flags"
done

# CoreDNS compiles its version in; its Makefile stamps only the git commit.
build_one coredns "$bin/coredns" github.com/coredns/coredns ""

ms_flags="-X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION"
ms_flags+=" -X k8s.io/client-go/pkg/version.buildDate=$(release_date metrics-server sigs.k8s.io/metrics-server)"
build_one metrics-server "$bin/metrics-server" sigs.k8s.io/metrics-server/cmd/metrics-server "$ms_flags"

ksm=k8s.io/kube-state-metrics/v2
pv=github.com/prometheus/common/version
ksm_flags="-X $pv.Version=$KUBE_STATE_METRICS_VERSION -X $pv.BuildDate=$(release_date kube-state-metrics $ksm)"
ksm_flags+=" -X $ksm/pkg/app.ClientGoVersion=$(cd "$here/kube-state-metrics" && go list -m -f '{{.Version}}' k8s.io/client-go)"
build_one kube-state-metrics "$bin/kube-state-metrics" $ksm "$ksm_flags"

# prometheus-adapter stamps no version (its Makefile builds with plain go build).
build_one prometheus-adapter "$bin/prometheus-adapter" sigs.k8s.io/prometheus-adapter/cmd/adapter ""

echo "$bin"
