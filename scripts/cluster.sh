#!/usr/bin/env bash
# A real Kubernetes control plane for tests and local work: etcd, kube-apiserver
# and kube-controller-manager built from upstream sources (scripts/control-plane),
# all state in one directory, loopback only, free ports.
#
#   scripts/cluster.sh up   [DIR]   start; returns when /readyz answers ok and prints
#                                   "export KUBECONFIG=DIR/kubeconfig"
#   scripts/cluster.sh down [DIR]   stop exactly the processes `up` started, remove DIR
#   scripts/cluster.sh env  [DIR]   print the export line of a running cluster
#   scripts/cluster.sh restart DIR COMPONENT
#                                   stop and start one component with the same flags
#
# DIR defaults to .cluster/ at the repository root. Logs go to DIR/logs. Several
# clusters can run at once in different DIRs.
#
# CLUSTER_HPA_SYNC_PERIOD (default 1s, so tests see an HPA act within seconds)
# sets kube-controller-manager's --horizontal-pod-autoscaler-sync-period; the
# operator benchmark uses Kubernetes' default, 15s, since at 1s the HPA
# controller alone keeps a control plane with thousands of HPAs busy.
# kube-controller-manager's clients may send 100 requests/s (burst 200) instead
# of 20 (30), so that Pods for thousands of Deployments are created in about a
# minute rather than a quarter of an hour.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-}
dir=${2:-$repo/.cluster}

die() { echo "cluster: $*" >&2; exit 1; }
log() { echo "cluster: $*" >&2; }

# free_port: prints a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# alive PIDFILE NAME: true when the PID in PIDFILE runs the binary NAME.
alive() {
  local pidfile=$1 name=$2 pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$name"
}

# shellcheck source=lib/proc.sh
. "$repo/scripts/lib/proc.sh"

# start NAME BINARY ARGS...: runs BINARY in its own session, logs to DIR/logs/NAME.log.
start() {
  local name=$1; shift
  setsid "$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/$name.pid"
}

# wait_for NAME SECONDS COMMAND...: polls COMMAND until it succeeds; fails at
# once, with the end of its log, if the process NAME has exited.
wait_for() {
  local what=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ! running "$dir/pids/$what.pid"; then
      tail -n 5 "$dir/logs/$what.log" >&2
      die "$what exited during start-up; see $dir/logs/$what.log"
    fi
    if [ $SECONDS -ge $deadline ]; then
      die "$what did not become ready within ${secs}s; see $dir/logs/"
    fi
    sleep 0.2
  done
}

gen_pki() {
  local p=$dir/pki
  mkdir -p "$p"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=pricing-test-ca" \
    -keyout "$p/ca.key" -out "$p/ca.crt" 2>/dev/null
  # Serving certificate for 127.0.0.1 / localhost and the in-cluster names.
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$p/apiserver.key" -out "$p/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n' >"$p/apiserver.ext"
  openssl x509 -req -in "$p/apiserver.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
    -days 30 -extfile "$p/apiserver.ext" -out "$p/apiserver.crt" 2>/dev/null
  # A client certificate in system:masters, for clients that authenticate by certificate.
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=cert-admin" \
    -keyout "$p/admin.key" -out "$p/admin.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >"$p/admin.ext"
  openssl x509 -req -in "$p/admin.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
    -days 30 -extfile "$p/admin.ext" -out "$p/admin.crt" 2>/dev/null
  # Service-account token signing key.
  openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
  openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
  chmod 600 "$p"/*.key
}

# write_kubeconfig FILE USER-STANZA: a kubeconfig for the local API server.
write_kubeconfig() {
  local file=$1 user=$2
  cat >"$file" <<KCFG
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$apiserver_port
    certificate-authority: $dir/pki/ca.crt
users:
- name: local
  user:
$user
contexts:
- name: local
  context: {cluster: local, user: local, namespace: default}
current-context: local
KCFG
  chmod 600 "$file"
}

up() {
  if [ -f "$dir/state.env" ]; then
    # shellcheck disable=SC1091
    . "$dir/state.env"
    if alive "$dir/pids/kube-apiserver.pid" kube-apiserver; then
      log "already running in $dir"
      echo "export KUBECONFIG=$dir/kubeconfig"
      return 0
    fi
    die "$dir holds a stopped cluster; run '$0 down $dir' first"
  fi
  local bin
  bin=$("$repo/scripts/control-plane/build.sh" | tail -n 1)
  [ -x "$bin/kube-apiserver" ] || die "control plane build produced no kube-apiserver in $bin"

  local started=$SECONDS
  mkdir -p "$dir/logs" "$dir/pids" "$dir/etcd"
  dir=$(cd "$dir" && pwd)
  gen_pki

  etcd_port=$(free_port); etcd_peer_port=$(free_port)
  apiserver_port=$(free_port); kcm_port=$(free_port)
  admin_token=$(openssl rand -hex 24); kcm_token=$(openssl rand -hex 24)
  cat >"$dir/state.env" <<STATE
bin=$bin
etcd_port=$etcd_port
apiserver_port=$apiserver_port
kcm_port=$kcm_port
admin_token=$admin_token
STATE
  # token,user,uid,"group1,group2"
  printf '%s,admin,admin,"system:masters"\n%s,system:kube-controller-manager,kcm\n' \
    "$admin_token" "$kcm_token" >"$dir/pki/tokens.csv"
  chmod 600 "$dir/pki/tokens.csv" "$dir/state.env"

  start etcd "$bin/etcd" --name default --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster "default=http://127.0.0.1:$etcd_peer_port" \
    --unsafe-no-fsync --log-level warn
  wait_for etcd 30 curl -sf "http://127.0.0.1:$etcd_port/health"

  start kube-apiserver "$bin/kube-apiserver" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$apiserver_port" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --tls-cert-file "$dir/pki/apiserver.crt" --tls-private-key-file "$dir/pki/apiserver.key" \
    --client-ca-file "$dir/pki/ca.crt" \
    --token-auth-file "$dir/pki/tokens.csv" \
    --authorization-mode RBAC \
    --enable-admission-plugins OwnerReferencesPermissionEnforcement \
    --service-account-issuer "https://kubernetes.default.svc" \
    --service-account-key-file "$dir/pki/sa.pub" \
    --service-account-signing-key-file "$dir/pki/sa.key" \
    --service-cluster-ip-range 10.0.0.0/16 \
    --endpoint-reconciler-type none \
    --allow-privileged=true \
    --enable-priority-and-fairness=false \
    --storage-media-type application/vnd.kubernetes.protobuf \
    --v 1
  wait_for kube-apiserver 90 curl -sf --cacert "$dir/pki/ca.crt" \
    -H "Authorization: Bearer $admin_token" "https://127.0.0.1:$apiserver_port/readyz"

  write_kubeconfig "$dir/kubeconfig" "    token: $admin_token"
  write_kubeconfig "$dir/kubeconfig-cert" "    client-certificate: $dir/pki/admin.crt
    client-key: $dir/pki/admin.key"
  write_kubeconfig "$dir/kube-controller-manager.kubeconfig" "    token: $kcm_token"

  start kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$dir/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig "$dir/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig "$dir/kube-controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "$kcm_port" \
    --controllers namespace-controller,garbage-collector-controller,serviceaccount-controller,serviceaccount-token-controller,deployment-controller,replicaset-controller,horizontal-pod-autoscaler-controller,disruption-controller \
    --use-service-account-credentials=true \
    --service-account-private-key-file "$dir/pki/sa.key" \
    --root-ca-file "$dir/pki/ca.crt" \
    --horizontal-pod-autoscaler-sync-period "${CLUSTER_HPA_SYNC_PERIOD:-1s}" \
    --kube-api-qps 100 --kube-api-burst 200 \
    --leader-elect=false \
    --v 1
  wait_for kube-controller-manager 60 curl -sfk "https://127.0.0.1:$kcm_port/healthz"

  log "ready in $((SECONDS - started)) s (apiserver https://127.0.0.1:$apiserver_port, logs in $dir/logs)"
  echo "export KUBECONFIG=$dir/kubeconfig"
}

down() {
  [ -d "$dir" ] || { log "nothing at $dir"; return 0; }
  local names=(kube-controller-manager kube-apiserver etcd) name pidfile pid
  for name in "${names[@]}"; do
    pidfile=$dir/pids/$name.pid
    if alive "$pidfile" "$name"; then kill -TERM "$(cat "$pidfile")" 2>/dev/null || true; fi
  done
  local deadline=$((SECONDS + 15))
  for name in "${names[@]}"; do
    pidfile=$dir/pids/$name.pid
    while alive "$pidfile" "$name"; do
      if [ $SECONDS -ge $deadline ]; then
        pid=$(cat "$pidfile"); log "$name ($pid) ignored SIGTERM; killing"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.2
      else
        sleep 0.1
      fi
    done
  done
  rm -rf "$dir"
}

# restart NAME: stops one component (kube-apiserver, etcd or
# kube-controller-manager) and starts it again with the same command line, for
# tests of clients that must survive it. Returns when it is healthy again.
restart() {
  local name=$1 pidfile=$dir/pids/$1.pid pid
  [ -f "$dir/state.env" ] || die "no cluster at $dir"
  # shellcheck disable=SC1091
  . "$dir/state.env"
  alive "$pidfile" "$name" || die "$name is not running in $dir"
  pid=$(cat "$pidfile")
  local -a argv
  mapfile -d '' argv <"/proc/$pid/cmdline"
  kill -TERM "$pid"
  local deadline=$((SECONDS + 30))
  while alive "$pidfile" "$name"; do
    [ $SECONDS -lt $deadline ] || { kill -KILL "$pid" 2>/dev/null; sleep 0.2; }
    sleep 0.1
  done
  setsid "${argv[@]}" >>"$dir/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  case "$name" in
    kube-apiserver)
      wait_for kube-apiserver 90 curl -sf --cacert "$dir/pki/ca.crt" \
        -H "Authorization: Bearer $admin_token" "https://127.0.0.1:$apiserver_port/readyz" ;;
    etcd) wait_for etcd 30 curl -sf "http://127.0.0.1:$etcd_port/health" ;;
    kube-controller-manager)
      wait_for kube-controller-manager 60 curl -sfk "https://127.0.0.1:$kcm_port/healthz" ;;
    *) die "unknown component $name" ;;
  esac
  log "$name restarted"
}

env_cmd() {
  [ -f "$dir/kubeconfig" ] || die "no cluster at $dir"
  echo "export KUBECONFIG=$(cd "$dir" && pwd)/kubeconfig"
}

case "$cmd" in
  up) up ;;
  down) down ;;
  env) env_cmd ;;
  restart)
    [ $# -ge 3 ] || die "usage: $0 restart DIR kube-apiserver|etcd|kube-controller-manager"
    dir=$(cd "$2" && pwd); restart "$3" ;;
  *) die "usage: $0 up|down|env [DIR] | restart DIR COMPONENT" ;;
esac
