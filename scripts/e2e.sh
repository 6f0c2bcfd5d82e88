#!/usr/bin/env bash
# A real one-node Kubernetes cluster for the e2e tests, entirely inside a
# network namespace of its own: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet, containerd with runc and the CNI bridge, kube-proxy,
# CoreDNS, metrics-server, kube-state-metrics, Prometheus and prometheus-adapter
# (manifests/monitoring as shipped), PostgreSQL and Redis, and the operator installed from
# manifests/overlays/e2e, running from the project's own images (make images).
#
#   scripts/e2e.sh up DIR                  start; returns once the node is Ready,
#                                          DNS answers and the operator holds its lease
#   scripts/e2e.sh exec DIR -- CMD...      run CMD in the namespace, KUBECONFIG=DIR/kubeconfig
#   scripts/e2e.sh secrets DIR NAMESPACE   the Secrets the seed PricingEngine expects,
#                                          the database migrated and seeded
#   scripts/e2e.sh down DIR                stop and remove everything `up` made
#   scripts/e2e.sh rss DIR                 resident memory of all of it, by command
#   scripts/e2e.sh stop-pg DIR | start-pg DIR
#                                          stop / start the cluster's PostgreSQL
#
# Isolation (docs/design.md §4):
# - Network: every process runs in the network namespace pe2e-<hash of DIR>.
#   Its only interfaces are lo, `node0` holding the node's address and default
#   route (one end of a veth pair whose other end stays inside), and the bridge
#   and veths CNI makes for pods. Nothing connects
#   it to any other namespace, so no packet can leave it; there is no masquerade.
# - Mounts: containerd, kubelet and kube-proxy run in a mount namespace of their
#   own (private propagation), where tmpfs hides the host's /run, /var/lib and
#   /var/log, and files holding the values kubelet checks are bind-mounted over
#   their /proc/sys entries (protectKernelDefaults: the host's kernel settings
#   are never written). Every mount the node makes lives and dies with it.
# - Cgroups: one subtree named after the namespace, under this script's own
#   cgroup path in every hierarchy (scripts/e2e/cgroups.py); kubelet's
#   cgroupRoot is inside it. `down` kills every process in it and removes it.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-}
dir=${2:-}

die() { echo "e2e: $*" >&2; exit 1; }
log() { echo "e2e: $*" >&2; }

# Addresses inside the namespace. None of them is reachable from outside it.
node_name=e2e-node
node_ip=10.77.0.2
pod_cidr=10.77.128.0/24
service_cidr=10.77.96.0/20
kubernetes_ip=10.77.96.1
dns_ip=10.77.96.10
apiserver_port=6443

[ -n "$dir" ] || die "usage: $0 up|exec|secrets|down|rss|stop-pg|start-pg DIR ..."
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
ns=pe2e-$(printf '%s' "$dir" | sha256sum | cut -c1-8)
cgname=$ns
cgroups=$repo/scripts/e2e/cgroups.py

# in_ns CMD...: CMD in the cluster's network namespace (host mounts).
in_ns() { nsenter --net="/run/netns/$ns" -- "$@"; }
# in_node CMD...: CMD in the network namespace and the node's mount namespace.
in_node() { nsenter --net="/run/netns/$ns" --mount="$dir/ns/mnt" -- "$@"; }

kubectl_() { in_ns "$bin/kubectl" --kubeconfig "$dir/kubeconfig" "$@"; }

# shellcheck source=lib/proc.sh
. "$repo/scripts/lib/proc.sh"

# start NAME node|ns CMD...: runs CMD in its own session inside the node's
# cgroup subtree and namespaces; logs to DIR/logs/NAME.log.
start() {
  local name=$1 where=$2; shift 2
  local enter=(nsenter --net="/run/netns/$ns")
  [ "$where" = node ] && enter+=(--mount="$dir/ns/mnt")
  # The child joins the cgroups before it execs, so everything it starts
  # (containerd's shims included) is inside the subtree `down` empties.
  setsid bash -c 'python3 "$1" join "$2" $$ && shift 2 && exec "$@"' _ "$cgroups" "$cgname" \
    "${enter[@]}" -- "$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/$name.pid"
}

# wait_for NAME SECONDS COMMAND...: polls COMMAND until it succeeds; fails at
# once, with the end of its log, if the process NAME has exited.
wait_for() {
  local what=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ -f "$dir/pids/$what.pid" ] && ! running "$dir/pids/$what.pid"; then
      tail -n 20 "$dir/logs/$what.log" >&2
      die "$what exited during start-up; see $dir/logs/$what.log"
    fi
    [ $SECONDS -lt $deadline ] || die "$what not ready within ${secs}s; see $dir/logs/"
    sleep 0.5
  done
}

# --- certificates -----------------------------------------------------------

# cert NAME SUBJECT EXT [CA]: a key and a certificate signed by CA (default ca).
cert() {
  local name=$1 subj=$2 ext=$3 ca=${4:-ca} p=$dir/pki
  openssl req -newkey rsa:2048 -nodes -subj "$subj" -keyout "$p/$name.key" -out "$p/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$p/$name.ext"
  openssl x509 -req -in "$p/$name.csr" -CA "$p/$ca.crt" -CAkey "$p/$ca.key" -CAcreateserial \
    -days 30 -extfile "$p/$name.ext" -out "$p/$name.crt" 2>/dev/null
  rm -f "$p/$name.csr" "$p/$name.ext"
}

gen_pki() {
  local p=$dir/pki
  mkdir -p "$p"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=e2e-cluster-ca" \
    -keyout "$p/ca.key" -out "$p/ca.crt" 2>/dev/null
  # The aggregation layer's own CA: the API server proxies to the metrics APIs
  # with a client certificate from it, and they trust only that CA for it.
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=e2e-front-proxy-ca" \
    -keyout "$p/front-proxy-ca.key" -out "$p/front-proxy-ca.crt" 2>/dev/null
  cert apiserver "/CN=kube-apiserver" \
    "subjectAltName=IP:$node_ip,IP:$kubernetes_ip,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth"
  cert apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client" "extendedKeyUsage=clientAuth"
  cert front-proxy-client "/CN=front-proxy-client" "extendedKeyUsage=clientAuth" front-proxy-ca
  cert kubelet "/CN=$node_name" "subjectAltName=IP:$node_ip,DNS:$node_name
extendedKeyUsage=serverAuth"
  openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
  openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
  chmod 600 "$p"/*.key
}

# write_kubeconfig FILE TOKEN: a kubeconfig for the API server on the node's address.
write_kubeconfig() {
  cat >"$1" <<KCFG
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: https://$node_ip:$apiserver_port
    certificate-authority: $dir/pki/ca.crt
users:
- name: e2e
  user:
    token: $2
contexts:
- name: e2e
  context: {cluster: e2e, user: e2e, namespace: default}
current-context: e2e
KCFG
  chmod 600 "$1"
}

# --- the namespaces -----------------------------------------------------------

make_netns() {
  # The first `ip netns add` on a host mounts /run/netns on itself (and may
  # create it); down undoes that when it was this cluster's doing.
  [ -d /run/netns ] || touch "$dir/netns-dir.made"
  mountpoint -q /run/netns 2>/dev/null || touch "$dir/netns-mount.made"
  ip netns add "$ns"
  echo "$ns" >"$dir/netns"
  ip -n "$ns" link set lo up
  # The node's address sits on one end of a veth pair whose other end stays
  # in the same namespace, without an address (the kernel here has no dummy
  # interfaces): the default route ends there, so the namespace has no way out.
  ip -n "$ns" link add node0 type veth peer name node0-end
  ip -n "$ns" addr add "$node_ip/24" dev node0
  ip -n "$ns" link set node0-end up
  ip -n "$ns" link set node0 up
  ip -n "$ns" route add default dev node0
  # Per-namespace settings (net.*), never the host's: forwarding between the
  # pods' bridge and the node, and bridged pod traffic through kube-proxy's rules.
  in_ns sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 \
    net.bridge.bridge-nf-call-ip6tables=1
}

# The values kubelet requires (protectKernelDefaults: it checks, never writes).
kernel_defaults=(vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1
  kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000)

make_mntns() {
  mkdir -p "$dir/ns" "$dir/sysctl"
  # unshare --mount=FILE needs FILE on a mount with private propagation.
  mount --bind "$dir/ns" "$dir/ns"
  mount --make-private "$dir/ns"
  touch "$dir/ns/mnt"
  local binds="" kv key
  for kv in "${kernel_defaults[@]}"; do
    key=${kv%%=*}
    if [ "$(cat "/proc/sys/$key")" != "${kv#*=}" ]; then
      printf '%s\n' "${kv#*=}" >"$dir/sysctl/${key//\//.}"
      binds+="mount --bind '$dir/sysctl/${key//\//.}' /proc/sys/$key; "
    fi
  done
  # No resolver outside the namespace: the node's own lookups (containerd's
  # image references, for one) fail at once instead of waiting on the host's.
  printf '# the e2e node resolves nothing outside its cluster\n' >"$dir/resolv.conf"
  binds+="mount --bind '$dir/resolv.conf' /etc/resolv.conf; "
  in_ns unshare --mount="$dir/ns/mnt" --propagation private -- sh -ec "
    $binds
    mount -t tmpfs -o mode=0755 e2e-run /run
    mount -t tmpfs -o mode=0755 e2e-var-lib /var/lib
    mount -t tmpfs -o mode=0755 e2e-var-log /var/log
    mkdir -p /run/containerd /var/lib/cni /var/log/pods /var/log/containers"
}

# --- the components -----------------------------------------------------------

start_control_plane() {
  local admin_token kcm_token sched_token node_token proxy_token
  admin_token=$(openssl rand -hex 24); kcm_token=$(openssl rand -hex 24)
  sched_token=$(openssl rand -hex 24); node_token=$(openssl rand -hex 24)
  proxy_token=$(openssl rand -hex 24); dns_token=$(openssl rand -hex 24)
  metrics_token=$(openssl rand -hex 24)
  # token,user,uid,"groups"
  cat >"$dir/pki/tokens.csv" <<TOKENS
$admin_token,e2e-admin,e2e-admin,"system:masters"
$kcm_token,system:kube-controller-manager,kcm
$sched_token,system:kube-scheduler,scheduler
$node_token,system:node:$node_name,node,"system:nodes"
$proxy_token,system:kube-proxy,kube-proxy
$dns_token,system:e2e:coredns,coredns
$metrics_token,system:e2e:metrics-server,metrics-server
TOKENS
  chmod 600 "$dir/pki/tokens.csv"
  write_kubeconfig "$dir/kubeconfig" "$admin_token"
  write_kubeconfig "$dir/kcm.kubeconfig" "$kcm_token"
  write_kubeconfig "$dir/scheduler.kubeconfig" "$sched_token"
  write_kubeconfig "$dir/kubelet.kubeconfig" "$node_token"
  write_kubeconfig "$dir/kube-proxy.kubeconfig" "$proxy_token"
  write_kubeconfig "$dir/coredns.kubeconfig" "$dns_token"

  start etcd ns "$cpbin/etcd" --name default --data-dir "$dir/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster default=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381 \
    --unsafe-no-fsync --log-level warn
  wait_for etcd 30 in_ns curl -sf http://127.0.0.1:2379/health

  # Admission as on hardened clusters: NodeRestriction, and
  # OwnerReferencesPermissionEnforcement (an owner reference with
  # blockOwnerDeletion needs `update` on the owner's finalizers); Pod Security
  # is on by default and the engine's namespaces label themselves restricted.
  start kube-apiserver ns "$cpbin/kube-apiserver" \
    --bind-address "$node_ip" --advertise-address "$node_ip" --secure-port "$apiserver_port" \
    --etcd-servers http://127.0.0.1:2379 \
    --tls-cert-file "$dir/pki/apiserver.crt" --tls-private-key-file "$dir/pki/apiserver.key" \
    --client-ca-file "$dir/pki/ca.crt" --token-auth-file "$dir/pki/tokens.csv" \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction,OwnerReferencesPermissionEnforcement \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$dir/pki/sa.pub" --service-account-signing-key-file "$dir/pki/sa.key" \
    --service-cluster-ip-range "$service_cidr" \
    --kubelet-client-certificate "$dir/pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$dir/pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$dir/pki/ca.crt" \
    --kubelet-preferred-address-types InternalIP \
    --requestheader-client-ca-file "$dir/pki/front-proxy-ca.crt" \
    --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$dir/pki/front-proxy-client.crt" \
    --proxy-client-key-file "$dir/pki/front-proxy-client.key" \
    --enable-aggregator-routing=true \
    --allow-privileged=false --v 1
  wait_for kube-apiserver 120 kubectl_ get --raw /readyz

  # The API server calls kubelets (logs, exec, metrics) as this user.
  kubectl_ create clusterrolebinding e2e-apiserver-kubelet \
    --clusterrole system:kubelet-api-admin --user kube-apiserver-kubelet-client >/dev/null

  start kube-controller-manager ns "$cpbin/kube-controller-manager" \
    --kubeconfig "$dir/kcm.kubeconfig" --authentication-kubeconfig "$dir/kcm.kubeconfig" \
    --authorization-kubeconfig "$dir/kcm.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 10257 \
    --use-service-account-credentials=true \
    --service-account-private-key-file "$dir/pki/sa.key" --root-ca-file "$dir/pki/ca.crt" \
    --cluster-signing-cert-file "$dir/pki/ca.crt" --cluster-signing-key-file "$dir/pki/ca.key" \
    --service-cluster-ip-range "$service_cidr" \
    --horizontal-pod-autoscaler-sync-period "${E2E_HPA_SYNC_PERIOD:-5s}" \
    --leader-elect=false --v 1
  start kube-scheduler ns "$cpbin/kube-scheduler" \
    --kubeconfig "$dir/scheduler.kubeconfig" --authentication-kubeconfig "$dir/scheduler.kubeconfig" \
    --authorization-kubeconfig "$dir/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 10259 --leader-elect=false --v 1
  wait_for kube-controller-manager 60 in_ns curl -sfk https://127.0.0.1:10257/healthz
  wait_for kube-scheduler 60 in_ns curl -sfk https://127.0.0.1:10259/healthz
}

start_node() {
  mkdir -p "$dir/containerd" "$dir/cni/net.d" "$dir/kubelet" "$dir/pod-logs"
  # The pods' network: one bridge, addresses from pod_cidr, no masquerade
  # (there is nowhere to masquerade to).
  cat >"$dir/cni/net.d/10-e2e.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "e2e",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$dir/cni/ipam",
              "ranges": [[{"subnet": "$pod_cidr"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
CNI
  cat >"$dir/containerd/config.toml" <<TOML
version = 4
root = "$dir/containerd/root"
state = "$dir/containerd/state"
# Nothing from the host's /etc/containerd; no NRI plugins.
imports = []
disabled_plugins = ["io.containerd.nri.v1.nri"]

[plugins."io.containerd.server.v1.grpc"]
  address = "$dir/containerd/containerd.sock"

[plugins."io.containerd.server.v1.ttrpc"]
  address = "$dir/containerd/containerd.sock.ttrpc"

[debug]
  level = "warn"

[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/containerd/opt"

[plugins."io.containerd.image-verifier.v1.bindir"]
  bin_dir = "$dir/containerd/image-verifiers"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"

[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "$pause_image"

[plugins."io.containerd.cri.v1.runtime"]
  enable_selinux = false
  netns_mounts_under_state_dir = true
  cdi_spec_dirs = []
  # The node's processes lack CAP_SYS_RESOURCE here, so they cannot lower an
  # oom_score_adj: kubelet's -998 for sandboxes is raised to containerd's own.
  restrict_oom_score_adj = true

[plugins."io.containerd.cri.v1.runtime".containerd]
  default_runtime_name = "runc"

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
  BinaryName = "$(command -v runc)"
  SystemdCgroup = false

[plugins."io.containerd.cri.v1.runtime".cni]
  bin_dirs = ["$nodebin/cni"]
  conf_dir = "$dir/cni/net.d"

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
TOML
  start containerd node env PATH="$nodebin:$PATH" "$nodebin/containerd" --config "$dir/containerd/config.toml"
  wait_for containerd 30 in_node "$nodebin/ctr" --address "$dir/containerd/containerd.sock" version

  local archive
  for archive in "${image_archives[@]}"; do
    in_node "$nodebin/ctr" --address "$dir/containerd/containerd.sock" -n k8s.io \
      images import --no-unpack=false "$archive" >/dev/null
  done

  local cgroot
  cgroot=$(python3 "$cgroups" root "$cgname")
  cat >"$dir/kubelet/config.yaml" <<KUBELET
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The machine runs cgroup v1 (hybrid); the node nests under this script's own
# cgroup path and never touches a hierarchy's root.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: $cgroot
# The node's mount namespace carries the kernel values kubelet wants; it checks
# them instead of writing the host's.
protectKernelDefaults: true
containerRuntimeEndpoint: unix://$dir/containerd/containerd.sock
address: $node_ip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $dir/pki/kubelet.crt
tlsPrivateKeyFile: $dir/pki/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $dir/pki/ca.crt}
authorization: {mode: Webhook}
clusterDomain: cluster.local
clusterDNS: [$dns_ip]
# No upstream resolvers: pods resolve cluster names only.
resolvConf: ""
podLogsDir: $dir/pod-logs
failSwapOn: false
# Imported images cannot be pulled again: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
serializeImagePulls: false
KUBELET
  start kubelet node env PATH="$nodebin:$PATH" "$cpbin/kubelet" \
    --config "$dir/kubelet/config.yaml" --kubeconfig "$dir/kubelet.kubeconfig" \
    --root-dir "$dir/kubelet" --hostname-override "$node_name" --node-ip "$node_ip" --v 1
  wait_for kubelet 120 node_ready

  cat >"$dir/kube-proxy.yaml" <<PROXY
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $dir/kube-proxy.kubeconfig}
hostnameOverride: $node_name
clusterCIDR: $pod_cidr
bindAddress: $node_ip
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# conntrack's table size and timeouts are the host's, not the namespace's: leave them.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
# Lowering it needs CAP_SYS_RESOURCE, which the node's processes lack here.
oomScoreAdj: 0
PROXY
  start kube-proxy node env XTABLES_LOCKFILE="$dir/xtables.lock" "$cpbin/kube-proxy" \
    --config "$dir/kube-proxy.yaml" --v 1
  wait_for kube-proxy 60 in_ns curl -sf http://127.0.0.1:10256/healthz
}

node_ready() {
  [ "$(kubectl_ get node "$node_name" \
    -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

# node_service NAME NAMESPACE CLUSTER_IP PORTS: YAML for a Service without a
# selector and its EndpointSlice, for a component that runs as a process on
# the node's address. PORTS: "name/protocol/port/targetPort" words.
node_service() {
  local name=$1 namespace=$2 cluster_ip=$3 spec p n proto port target sp="" ep=""
  shift 3
  for spec in "$@"; do
    IFS=/ read -r n proto port target <<<"$spec"
    sp+="  - {name: $n, port: $port, protocol: $proto, targetPort: $target}"$'\n'
    ep+="- {name: $n, port: $target, protocol: $proto}"$'\n'
  done
  p=""
  [ "$cluster_ip" = auto ] || p="  clusterIP: $cluster_ip"
  cat <<YAML
---
apiVersion: v1
kind: Service
metadata: {name: $name, namespace: $namespace, labels: {k8s-app: $name}}
spec:
$p
  ports:
$sp---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $name-node
  namespace: $namespace
  labels: {kubernetes.io/service-name: $name, endpointslice.kubernetes.io/managed-by: e2e.sh}
addressType: IPv4
endpoints: [{addresses: ["$node_ip"], conditions: {ready: true}}]
ports:
$ep
YAML
}

# api_service GROUP VERSION PRIORITY NAMESPACE/SERVICE: YAML registering an
# aggregated API served by a node_service, its certificate signed by the CA.
api_service() {
  cat <<YAML
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: $2.$1}
spec:
  group: $1
  version: $2
  groupPriorityMinimum: 100
  versionPriority: $3
  service: {name: ${4#*/}, namespace: ${4%/*}, port: 443}
  caBundle: $(base64 -w0 "$dir/pki/ca.crt")
YAML
}

start_dns() {
  # CoreDNS runs as a process on the node's address, behind the kube-dns
  # Service that kubelet gives pods as their resolver.
  cat >"$dir/Corefile" <<COREFILE
.:53 {
    bind $node_ip
    errors
    health 127.0.0.1:8080
    ready 127.0.0.1:8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $dir/coredns.kubeconfig e2e
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
    loop
}
COREFILE
  kubectl_ apply -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: e2e-coredns}
rules:
- {apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-coredns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-coredns}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:e2e:coredns"}]
$(node_service kube-dns kube-system "$dns_ip" dns/UDP/53/53 dns-tcp/TCP/53/53)
YAML
  start coredns ns "$nodebin/coredns" -conf "$dir/Corefile"
  wait_for coredns 60 in_ns curl -sf http://127.0.0.1:8181/ready
}

# metrics-server, as a process on the node behind the v1beta1.metrics.k8s.io
# APIService: CPU and memory of pods and nodes from kubelet, for HPAs and
# `kubectl top`.
start_metrics_server() {
  cert metrics-server "/CN=metrics-server" \
    "subjectAltName=DNS:metrics-server.kube-system.svc,IP:$node_ip
extendedKeyUsage=serverAuth"
  write_kubeconfig "$dir/metrics-server.kubeconfig" "$metrics_token"
  kubectl_ apply -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: e2e-metrics-server}
rules:
- {apiGroups: [""], resources: [nodes/metrics], verbs: [get]}
- {apiGroups: [""], resources: [pods, nodes], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-metrics-server}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-metrics-server}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:e2e:metrics-server"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-metrics-server-auth-delegator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:auth-delegator"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:e2e:metrics-server"}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: e2e-metrics-server-auth-reader, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:e2e:metrics-server"}]
$(node_service metrics-server kube-system auto https/TCP/443/4443)
$(api_service metrics.k8s.io v1beta1 100 kube-system/metrics-server)
YAML
  start metrics-server ns "$nodebin/metrics-server" \
    --secure-port 4443 --bind-address "$node_ip" \
    --tls-cert-file "$dir/pki/metrics-server.crt" --tls-private-key-file "$dir/pki/metrics-server.key" \
    --kubeconfig "$dir/metrics-server.kubeconfig" \
    --authentication-kubeconfig "$dir/metrics-server.kubeconfig" \
    --authorization-kubeconfig "$dir/metrics-server.kubeconfig" \
    --requestheader-client-ca-file "$dir/pki/front-proxy-ca.crt" \
    --kubelet-preferred-address-types InternalIP \
    --kubelet-certificate-authority "$dir/pki/ca.crt" \
    --metric-resolution 15s --v 1
  wait_for metrics-server 120 kubectl_ top nodes
}

# The monitoring stack of manifests/monitoring, as processes on the node:
# kube-state-metrics with the shipped custom-resource configuration and RBAC
# (it runs as the ServiceAccount monitoring/kube-state-metrics that RBAC
# names), Prometheus with the ServiceMonitors translated to scrape
# configurations (scripts/e2e/monitoring.py) and the PrometheusRules as its
# rule file, and
# prometheus-adapter with the shipped rules behind the custom metrics
# APIService. E2E_ALERT_FOR="ALERT=DURATION ..." shortens alerts' `for:`
# (default: PricingEngineSpecInvalid=10s, for the e2e scenario that fires it).
ksm_port=8090
prometheus_port=9090
adapter_port=6445
start_monitoring() {
  local m=$dir/monitoring sa
  mkdir -p "$m" "$dir/prometheus"
  kubectl_ create namespace monitoring >/dev/null
  for sa in kube-state-metrics prometheus prometheus-adapter; do
    kubectl_ -n monitoring create serviceaccount "$sa" >/dev/null
    kubectl_ -n monitoring create token "$sa" --duration 720h >"$m/$sa.token"
    chmod 600 "$m/$sa.token"
    write_kubeconfig "$m/$sa.kubeconfig" "$(cat "$m/$sa.token")"
  done
  local for_args=() f
  for f in ${E2E_ALERT_FOR-PricingEngineSpecInvalid=10s}; do for_args+=(--for "$f"); done
  kubectl_ kustomize "$repo/manifests/monitoring" | python3 "$repo/scripts/e2e/monitoring.py" "$m" \
    --targets-file "$m/targets.json" --kube-state-metrics "$node_ip:$ksm_port" \
    --kubelet "$node_ip:10250" --kubelet-ca "$dir/pki/ca.crt" --kubelet-token "$m/prometheus.token" \
    --evaluation-interval 5s "${for_args[@]}"
  kubectl_ apply -f "$m/resources.yaml" >/dev/null
  cert prometheus-adapter "/CN=prometheus-adapter" \
    "subjectAltName=DNS:prometheus-adapter.monitoring.svc,IP:$node_ip
extendedKeyUsage=serverAuth"
  # What the upstream deployments of these three grant, for what the shipped
  # files do not cover: kube-state-metrics' built-in resources, Prometheus's
  # service discovery and the kubelet's cAdvisor metrics, and the adapter's
  # delegated authentication.
  kubectl_ apply -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: e2e-kube-state-metrics}
rules:
- {apiGroups: [""], resources: [pods], verbs: [list, watch]}
- {apiGroups: [apps], resources: [deployments], verbs: [list, watch]}
- {apiGroups: [autoscaling], resources: [horizontalpodautoscalers], verbs: [list, watch]}
- {apiGroups: [policy], resources: [poddisruptionbudgets], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-kube-state-metrics}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-kube-state-metrics}
subjects: [{kind: ServiceAccount, name: kube-state-metrics, namespace: monitoring}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: e2e-prometheus}
rules:
- {apiGroups: [""], resources: [services, endpoints, pods], verbs: [get, list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [get, list, watch]}
- {apiGroups: [""], resources: [nodes/metrics], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-prometheus}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-prometheus}
subjects: [{kind: ServiceAccount, name: prometheus, namespace: monitoring}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: e2e-prometheus-adapter}
rules:
- {apiGroups: [""], resources: [namespaces, pods, services], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-prometheus-adapter}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: e2e-prometheus-adapter}
subjects: [{kind: ServiceAccount, name: prometheus-adapter, namespace: monitoring}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: e2e-prometheus-adapter-auth-delegator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:auth-delegator"}
subjects: [{kind: ServiceAccount, name: prometheus-adapter, namespace: monitoring}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: e2e-prometheus-adapter-auth-reader, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}
subjects: [{kind: ServiceAccount, name: prometheus-adapter, namespace: monitoring}]
$(node_service prometheus-adapter monitoring auto https/TCP/443/$adapter_port)
$(api_service custom.metrics.k8s.io v1beta1 100 monitoring/prometheus-adapter)
$(api_service custom.metrics.k8s.io v1beta2 200 monitoring/prometheus-adapter)
YAML
  start kube-state-metrics ns "$nodebin/kube-state-metrics" \
    --kubeconfig "$m/kube-state-metrics.kubeconfig" \
    --host "$node_ip" --port "$ksm_port" --telemetry-host 127.0.0.1 --telemetry-port 8091 \
    --resources deployments,horizontalpodautoscalers,poddisruptionbudgets,pods \
    --custom-resource-state-config-file "$m/pricing-kube-state-metrics/custom-resource-state.yaml"
  # Debian's Prometheus lacks Kubernetes service discovery; discovery.py
  # writes the same targets and labels to a file, as the prometheus
  # ServiceAccount sees them.
  start discovery ns python3 "$repo/scripts/e2e/discovery.py" "$m/targets.json" \
    --api-server "https://$node_ip:$apiserver_port" --ca "$dir/pki/ca.crt" \
    --token-file "$m/prometheus.token"
  start prometheus ns prometheus --config.file "$m/prometheus.yml" \
    --storage.tsdb.path "$dir/prometheus" --storage.tsdb.retention.time 6h \
    --web.listen-address "$node_ip:$prometheus_port" --log.level warn
  # The adapter lists Prometheus's series every 15 s (10 min by default), so
  # pods that start during a test are served within a scrape or two.
  start prometheus-adapter ns "$nodebin/prometheus-adapter" \
    --secure-port "$adapter_port" --bind-address "$node_ip" \
    --tls-cert-file "$dir/pki/prometheus-adapter.crt" \
    --tls-private-key-file "$dir/pki/prometheus-adapter.key" \
    --lister-kubeconfig "$m/prometheus-adapter.kubeconfig" \
    --authentication-kubeconfig "$m/prometheus-adapter.kubeconfig" \
    --authorization-kubeconfig "$m/prometheus-adapter.kubeconfig" \
    --requestheader-client-ca-file "$dir/pki/front-proxy-ca.crt" \
    --config "$m/pricing-prometheus-adapter/config.yaml" \
    --prometheus-url "http://$node_ip:$prometheus_port/" \
    --metrics-relist-interval 15s --v 1
  wait_for kube-state-metrics 60 in_ns curl -sf "http://$node_ip:$ksm_port/healthz"
  wait_for prometheus 60 in_ns curl -sf "http://$node_ip:$prometheus_port/-/ready"
  wait_for prometheus-adapter 120 kubectl_ get --raw /apis/custom.metrics.k8s.io/v1beta2
}

dns_answers() {
  in_ns python3 "$repo/scripts/e2e/dns_query.py" "$dns_ip" kubernetes.default.svc.cluster.local
}

start_services() {
  # PostgreSQL and Redis of the cluster's data tier, on the node's address.
  in_ns env PRICING_SERVICES_ADDR="$node_ip" PRICING_SERVICES_CLIENTS="$pod_cidr" \
    "$repo/scripts/services.sh" up "$dir/services" >/dev/null
}

install_operator() {
  kubectl_ apply -k "$repo/manifests/overlays/e2e" >/dev/null
  kubectl_ -n pricing-system rollout status deployment/pricing-operator --timeout 180s >/dev/null \
    || { kubectl_ -n pricing-system get pods -o wide >&2; die "the operator did not roll out"; }
  local deadline=$((SECONDS + 60)) holder=""
  until [ -n "$holder" ]; do
    holder=$(kubectl_ -n pricing-system get lease pricing-operator \
      -o 'jsonpath={.spec.holderIdentity}' 2>/dev/null || true)
    [ $SECONDS -lt $deadline ] || die "no operator replica took the lease within 60 s"
    [ -n "$holder" ] || sleep 1
  done
  log "operator leader: $holder"
}

# make_secrets NAMESPACE: what examples/pricingengine-seed-production.yaml
# reads (the data tier's URLs and the roles' shared token), with the database
# migrated and seeded by the engine built from the same sources.
make_secrets() {
  local ns_=$1 engine=${BUILD_DIR:-$repo/build}/engine/pricing-engine token
  [ -x "$engine" ] || die "$engine is missing; run make build"
  (
    set -a
    # shellcheck disable=SC1091
    . "$dir/services/services.env"
    set +a
    in_ns "$engine" migrate >/dev/null
    in_ns "$engine" seed "$repo/examples/data/reference-data.yaml" >/dev/null
    kubectl_ create namespace "$ns_" --dry-run=client -o yaml | kubectl_ apply -f - >/dev/null
    kubectl_ -n "$ns_" create secret generic pricing-engine-connections \
      --from-literal PRICING_DATABASE_URL="$PRICING_DATABASE_URL" \
      --from-literal PRICING_REDIS_URL="$PRICING_REDIS_URL" \
      --dry-run=client -o yaml | kubectl_ apply -f - >/dev/null
  )
  # The token stays the same across calls, so running pods keep talking.
  if ! kubectl_ -n "$ns_" get secret pricing-engine-internal >/dev/null 2>&1; then
    token=$(openssl rand -hex 32)
    kubectl_ -n "$ns_" create secret generic pricing-engine-internal --from-literal token="$token" >/dev/null
  fi
  log "secrets pricing-engine-connections and pricing-engine-internal in $ns_"
}

save_state() {
  cat >"$dir/state.env" <<STATE
cpbin=$cpbin
nodebin=$nodebin
STATE
}

load_state() {
  [ -f "$dir/state.env" ] || die "no cluster at $dir; run '$0 up $dir' first"
  # shellcheck disable=SC1091
  . "$dir/state.env"
  bin=$cpbin
}

up() {
  [ "$(id -u)" -eq 0 ] || die "the node (network and mount namespaces, cgroups) needs root"
  [ ! -f "$dir/state.env" ] || die "$dir holds a cluster; run '$0 down $dir' first"
  case "$dir" in /run/* | /var/lib/* | /var/log/*)
    die "DIR must not be under /run, /var/lib or /var/log: the node hides those" ;;
  esac
  local tool
  for tool in ip nsenter unshare runc iptables-restore openssl curl python3 prometheus; do
    command -v "$tool" >/dev/null || die "$tool is missing; run scripts/install-deps.sh"
  done
  local started=$SECONDS
  cpbin=$("$repo/scripts/control-plane/build.sh" | tail -n 1)
  nodebin=$("$repo/scripts/node/build.sh" | tail -n 1)
  mapfile -t image_archives < <("$repo/scripts/images/build.sh")
  pause_image=$(cat "$(dirname "${image_archives[0]}")/pause.name")
  bin=$cpbin
  save_state
  log "binaries and images ready in $((SECONDS - started)) s"

  mkdir -p "$dir/logs" "$dir/pids"
  # From here on, a failure shows the logs and leaves nothing behind.
  trap up_failed EXIT
  python3 "$cgroups" create "$cgname" "$dir/cgroups.made"
  make_netns
  make_mntns
  gen_pki
  start_control_plane
  start_node
  start_dns
  wait_for coredns 30 dns_answers
  start_metrics_server
  start_monitoring
  start_services
  install_operator
  trap - EXIT
  log "ready in $((SECONDS - started)) s; run commands with: $0 exec $dir -- CMD"
}

up_failed() {
  local f
  log "start-up failed; the end of each log follows, then everything is torn down"
  for f in "$dir"/logs/*.log; do
    [ -f "$f" ] || continue
    echo "--- $(basename "$f")" >&2
    tail -n 15 "$f" >&2
  done
  down
}

down() {
  set +e
  [ -d "$dir" ] || { log "nothing at $dir"; return 0; }
  # PostgreSQL runs as another user with its data possibly outside DIR:
  # services.sh knows how to stop it and remove that.
  [ -d "$dir/services" ] && in_ns "$repo/scripts/services.sh" down "$dir/services" >/dev/null 2>&1
  # Every process the node started, pods and shims included, is in the subtree.
  [ -f "$dir/cgroups.made" ] && python3 "$cgroups" remove "$cgname" "$dir/cgroups.made"
  if mountpoint -q "$dir/ns/mnt" 2>/dev/null; then umount "$dir/ns/mnt"; fi
  if mountpoint -q "$dir/ns" 2>/dev/null; then umount "$dir/ns"; fi
  if [ -e "/run/netns/$ns" ]; then
    # Whatever still runs in the namespace (a process `exec` started that
    # outlived its caller) goes with it, and is named: a test left it.
    local pids left i
    pids=$(ip netns pids "$ns" 2>/dev/null | xargs)
    if [ -n "$pids" ]; then
      log "stopping processes left in the cluster's network namespace: $pids"
      # shellcheck disable=SC2086
      kill -TERM $pids 2>/dev/null
      for i in $(seq 50); do
        left=$(ip netns pids "$ns" 2>/dev/null | xargs)
        [ -z "$left" ] && break
        sleep 0.1
      done
      # shellcheck disable=SC2086
      [ -n "$left" ] && kill -KILL $left 2>/dev/null
    fi
    ip netns delete "$ns"
  fi
  # /run/netns itself, once no namespace is left in it, when this cluster
  # mounted (or made) it.
  if [ -z "$(ls -A /run/netns 2>/dev/null)" ]; then
    if [ -f "$dir/netns-mount.made" ] && mountpoint -q /run/netns; then umount /run/netns; fi
    if [ -f "$dir/netns-dir.made" ] && ! mountpoint -q /run/netns; then rmdir /run/netns 2>/dev/null; fi
  fi
  # Anything still mounted under DIR (there should be nothing: the node's
  # mounts lived in its own namespace) is reported and removed.
  local m
  while read -r m; do
    log "unmounting leftover $m"; umount -l "$m"
  done < <(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r)
  rm -rf "$dir"
  set -e
}

# Everything runs from main, after bash has read the whole file: an edit to
# the script while a cluster starts cannot change what the running one does.
main() {
case "$cmd" in
  up) up ;;
  down) down ;;
  exec)
    load_state
    shift 2
    [ "${1:-}" = -- ] && shift
    [ $# -gt 0 ] || die "usage: $0 exec DIR -- CMD..."
    exec nsenter --net="/run/netns/$ns" -- env KUBECONFIG="$dir/kubeconfig" PATH="$cpbin:$PATH" "$@" ;;
  secrets)
    load_state
    [ $# -eq 3 ] || die "usage: $0 secrets DIR NAMESPACE"
    make_secrets "$3" ;;
  rss)
    # The cluster's resident memory: every process in the node's cgroup
    # subtree (control plane, node, pods, monitoring) and the data tier.
    load_state
    # shellcheck disable=SC2046
    python3 "$repo/scripts/e2e/rss.py" $(python3 "$cgroups" pids "$cgname") \
      $(cat "$dir"/services/pids/*.pid 2>/dev/null) ;;
  stop-pg) load_state; in_ns "$repo/scripts/services.sh" stop-pg "$dir/services" ;;
  start-pg) load_state; in_ns "$repo/scripts/services.sh" start-pg "$dir/services" ;;
  *) die "usage: $0 up|exec|secrets|down|rss|stop-pg|start-pg DIR ..." ;;
esac
}

main "$@"; exit
