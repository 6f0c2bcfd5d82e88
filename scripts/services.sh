#!/usr/bin/env bash
# A private PostgreSQL 15 and Redis for `make run` and the integration tests:
# loopback only, free ports, all state under one directory, several instances
# side by side in different DIRs.
#
#   scripts/services.sh up DIR           start both; returns when both answer and
#                                        prints DIR/services.env
#   scripts/services.sh down DIR         stop exactly what `up` started (by PID), remove DIR
#   scripts/services.sh env DIR          print DIR/services.env
#   scripts/services.sh stop-pg DIR      stop PostgreSQL, keep its data and port
#   scripts/services.sh start-pg DIR     start it again on the same port and data
#   scripts/services.sh stop-redis DIR   stop Redis, keep its port
#   scripts/services.sh start-redis DIR  start it again on the same port
#
# PRICING_SERVICES_ADDR (default 127.0.0.1) is the address both listen on, and
# PRICING_SERVICES_CLIENTS a CIDR whose clients PostgreSQL also admits (by
# password): scripts/e2e.sh runs them on its node's address, inside its own
# network namespace, for the cluster's pods. Both are fixed at the first `up`.
#
# DIR/services.env (mode 0600, KEY=value lines that a shell can source):
#   PRICING_DATABASE_URL  postgresql://pricing:<password>@<addr>:<port>/pricing
#   PRICING_REDIS_URL     redis://<addr>:<port>/0
#   PRICING_PG_ADMIN_URL  the superuser's URL (database postgres), for tests
#   PRICING_PG_PORT, PRICING_PG_PID, PRICING_PG_DATA, PRICING_REDIS_PORT, PRICING_REDIS_PID
#
# PostgreSQL refuses to run as root. When this script runs as root it runs
# initdb and postgres as the system user pricing-pg (created if missing;
# PRICING_PG_USER overrides), through setpriv, so the recorded PID is the
# postmaster itself. The data directory must be reachable by that user: it is
# DIR/pg when the user can traverse DIR's parents, and otherwise (e.g. DIR under
# /root, which is 0700) /var/tmp/pricing-pg-<hash of DIR>, recorded as
# PRICING_PG_DATA and removed by `down`. PostgreSQL listens on TCP only (no Unix
# socket, so no socket path has to be reachable either), with scram-sha-256
# password authentication for every role. Logs are in DIR/logs.
#
# PostgreSQL runs with fsync=off (PRICING_PG_FSYNC=on restores it): committed
# data survives a crash or kill of any process, only not an operating-system
# crash, and checkpoints (e.g. at stop-pg) take milliseconds instead of seconds.
#
# Redis runs with its own config file (DIR/redis/redis.conf) and no persistence
# (save "", appendonly no).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-}
dir=${2:-$repo/.local/services}
pg_user=${PRICING_PG_USER:-pricing-pg}
pg_fsync=${PRICING_PG_FSYNC:-off}
pgbin=${PRICING_PG_BIN:-/usr/lib/postgresql/15/bin}
marker=.pricing-services

die() { echo "services: $*" >&2; exit 1; }
log() { echo "services: $*" >&2; }

usage() {
  die "usage: $0 up|down|env|stop-pg|start-pg|stop-redis|start-redis DIR"
}

# free_port: prints a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# random_secret: prints 32 hex characters from the kernel's CSPRNG.
random_secret() {
  od -An -N16 -tx1 /dev/urandom | tr -d ' \n'
}

# alive PID NAME: true when PID runs a program whose command line mentions NAME.
alive() {
  local pid=$1 name=$2
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$name"
}

# running PID: true while PID exists and has not exited (a zombie has).
running() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

pid_of() { cat "$dir/pids/$1.pid" 2>/dev/null || true; }

# as_pg CMD...: runs CMD as the PostgreSQL user with a clean environment, from /.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && setpriv --reuid="$pg_user" --regid="$pg_user" --init-groups -- \
      env -i PATH=/usr/bin:/bin LANG=C HOME=/ "$@")
  else
    (cd / && env -i PATH=/usr/bin:/bin LANG=C HOME=/ "$@")
  fi
}

ensure_pg_user() {
  [ "$(id -u)" -eq 0 ] || return 0
  id -u "$pg_user" >/dev/null 2>&1 && return 0
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$pg_user" 2>/dev/null ||
    id -u "$pg_user" >/dev/null 2>&1 ||
    die "could not create the system user $pg_user (useradd failed); PostgreSQL cannot run as root"
}

# own_pg PATH: makes PATH belong to the PostgreSQL user, mode 0700.
own_pg() {
  if [ "$(id -u)" -eq 0 ]; then chown "$pg_user:$pg_user" "$1"; fi
  chmod 0700 "$1"
}

# choose_pg_root: sets pg_root to DIR/pg when the PostgreSQL user can reach it,
# else to /var/tmp/pricing-pg-<hash of DIR>.
choose_pg_root() {
  pg_root=$dir/pg
  mkdir -p "$pg_root"
  own_pg "$pg_root"
  if as_pg test -w "$pg_root" -a -x "$pg_root" 2>/dev/null; then
    return 0
  fi
  rm -rf "$pg_root"
  [ -d /var/tmp ] && [ -w /var/tmp ] || die "the PostgreSQL user cannot reach $dir and /var/tmp is not usable"
  pg_root=/var/tmp/pricing-pg-$(printf '%s' "$dir" | sha256sum | cut -c1-16)
  log "$pg_user cannot traverse the parents of $dir; PostgreSQL data goes to $pg_root"
  stop_stale_postmaster "$pg_root/data"
  rm -rf "$pg_root"
  mkdir -p "$pg_root"
  own_pg "$pg_root"
  as_pg test -w "$pg_root" || die "the PostgreSQL user cannot write $pg_root"
}

# stop_stale_postmaster DATADIR: stops a postgres left running on DATADIR by an
# earlier instance whose DIR was removed without `down`.
stop_stale_postmaster() {
  local pidfile=$1/postmaster.pid pid
  [ -f "$pidfile" ] || return 0
  pid=$(head -n 1 "$pidfile")
  if alive "$pid" "$1"; then
    log "stopping a stale PostgreSQL ($pid) on $1"
    stop_pid "$pid" postgres INT
  fi
}

# stop_pid PID NAME SIGNAL: sends SIGNAL, waits up to 30 s, then SIGKILL.
stop_pid() {
  local pid=$1 name=$2 sig=$3 deadline=$((SECONDS + 30))
  alive "$pid" "$name" || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  while alive "$pid" "$name"; do
    if [ $SECONDS -ge $deadline ]; then
      log "$name ($pid) did not stop within 30 s; killing"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    else
      sleep 0.05
    fi
  done
}

# lock_dir: serialises commands on one DIR (held until this script exits).
lock_dir() {
  exec 9<"$dir"
  flock -w 120 9 || die "another services.sh command holds $dir for over 120 s"
}

load_state() {
  [ -f "$dir/$marker" ] && [ -f "$dir/state.env" ] || die "no services at $dir; run '$0 up $dir' first"
  # shellcheck disable=SC1091
  . "$dir/state.env"
}

write_env() {
  local tmp=$dir/services.env.tmp
  cat >"$tmp" <<ENV
PRICING_DATABASE_URL=postgresql://pricing:$app_password@$addr:$pg_port/pricing
PRICING_REDIS_URL=redis://$addr:$redis_port/0
PRICING_PG_ADMIN_URL=postgresql://postgres:$admin_password@$addr:$pg_port/postgres
PRICING_PG_PORT=$pg_port
PRICING_PG_PID=$(pid_of postgres)
PRICING_PG_DATA=$pg_root/data
PRICING_REDIS_PORT=$redis_port
PRICING_REDIS_PID=$(pid_of redis)
ENV
  chmod 600 "$tmp"
  mv "$tmp" "$dir/services.env"
}

pg_ready() { "$pgbin/pg_isready" -q -h "$addr" -p "$pg_port" -t 1; }

# start_pg: starts postgres on pg_port; returns 1 if it exited (e.g. the port
# was taken), dies if it neither exits nor answers within 60 s.
start_pg() {
  local data=$pg_root/data launched pid deadline
  # Non-interactive bash runs background jobs in its own process group, so
  # setsid, setpriv and env each exec in place and $! is the postmaster.
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && exec setsid setpriv --reuid="$pg_user" --regid="$pg_user" --init-groups -- \
      env -i PATH=/usr/bin:/bin LANG=C HOME=/ \
      "$pgbin/postgres" -D "$data" -p "$pg_port" \
      -c listen_addresses="$addr" -c unix_socket_directories= -c max_connections=200 \
      -c fsync="$pg_fsync" -c full_page_writes="$pg_fsync") \
      >>"$dir/logs/postgres.log" 2>&1 </dev/null 9<&- &
  else
    (cd / && exec setsid env -i PATH=/usr/bin:/bin LANG=C HOME=/ \
      "$pgbin/postgres" -D "$data" -p "$pg_port" \
      -c listen_addresses="$addr" -c unix_socket_directories= -c max_connections=200 \
      -c fsync="$pg_fsync" -c full_page_writes="$pg_fsync") \
      >>"$dir/logs/postgres.log" 2>&1 </dev/null 9<&- &
  fi
  launched=$!
  deadline=$((SECONDS + 60))
  until pg_ready; do
    running "$launched" || return 1
    [ $SECONDS -lt $deadline ] || die "PostgreSQL did not answer within 60 s; see $dir/logs/postgres.log"
    sleep 0.1
  done
  pid=$(head -n 1 "$data/postmaster.pid")
  alive "$pid" postgres || die "PostgreSQL answers but $data/postmaster.pid names no postgres process"
  echo "$pid" >"$dir/pids/postgres.pid"
}

redis_ready() {
  [ "$(redis-cli -h "$addr" -p "$redis_port" ping 2>/dev/null)" = PONG ]
}

# start_redis: like start_pg, for redis-server on redis_port.
start_redis() {
  local pid deadline protected=yes
  # Protected mode refuses every client but loopback ones while Redis has no
  # password; on another address the clients are the e2e cluster's pods.
  [ "$addr" = 127.0.0.1 ] || protected=no
  cat >"$dir/redis/redis.conf" <<CONF
bind $addr
port $redis_port
protected-mode $protected
daemonize no
save ""
appendonly no
dir $dir/redis
logfile ""
CONF
  setsid redis-server "$dir/redis/redis.conf" >>"$dir/logs/redis.log" 2>&1 </dev/null 9<&- &
  pid=$!
  deadline=$((SECONDS + 30))
  until redis_ready; do
    running "$pid" || return 1
    [ $SECONDS -lt $deadline ] || die "Redis did not answer within 30 s; see $dir/logs/redis.log"
    sleep 0.05
  done
  echo "$pid" >"$dir/pids/redis.pid"
}

psql_admin() {
  PGPASSWORD=$admin_password "$pgbin/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
    -h "$addr" -p "$pg_port" -U postgres -d postgres "$@"
}

# bootstrap_pg: creates the role and database `pricing` unless they exist.
bootstrap_pg() {
  if [ "$(psql_admin -c "SELECT count(*) FROM pg_roles WHERE rolname = 'pricing'")" = 0 ]; then
    psql_admin -c "CREATE ROLE pricing LOGIN PASSWORD '$app_password'"
  fi
  if [ "$(psql_admin -c "SELECT count(*) FROM pg_database WHERE datname = 'pricing'")" = 0 ]; then
    psql_admin -c "CREATE DATABASE pricing OWNER pricing"
  fi
}

init_pg() {
  local pwfile=$pg_root/superuser.pw
  printf '%s\n' "$admin_password" >"$pwfile"
  own_pg "$pwfile"
  chmod 0600 "$pwfile"
  if ! as_pg "$pgbin/initdb" -D "$pg_root/data" -U postgres --pwfile="$pwfile" \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --no-locale --no-sync \
    >"$dir/logs/initdb.log" 2>&1; then
    rm -f "$pwfile"
    die "initdb failed; see $dir/logs/initdb.log"
  fi
  rm -f "$pwfile"
  # initdb admits 127.0.0.1 only; the address PostgreSQL listens on (its own
  # clients, psql_admin among them, connect from it) and the CIDR of others.
  local cidr
  for cidr in ${addr:+$addr/32} $clients; do
    [ "$cidr" != 127.0.0.1/32 ] || continue
    printf 'host all all %s scram-sha-256\n' "$cidr" >>"$pg_root/data/pg_hba.conf"
  done
}

# ensure_pg / ensure_redis FIRST: start the service unless it runs; on the first
# start a taken port is replaced by another free one, later starts keep it.
ensure_pg() {
  local first=$1 tries=0
  alive "$(pid_of postgres)" postgres && pg_ready && return 0
  until start_pg; do
    tries=$((tries + 1))
    if [ "$first" != 1 ] || [ $tries -ge 5 ]; then
      die "PostgreSQL exited on port $pg_port; see $dir/logs/postgres.log"
    fi
    pg_port=$(free_port)
    sed -i "s/^pg_port=.*/pg_port=$pg_port/" "$dir/state.env"
  done
}

ensure_redis() {
  local first=$1 tries=0
  alive "$(pid_of redis)" redis-server && redis_ready && return 0
  until start_redis; do
    tries=$((tries + 1))
    if [ "$first" != 1 ] || [ $tries -ge 5 ]; then
      die "Redis exited on port $redis_port; see $dir/logs/redis.log"
    fi
    redis_port=$(free_port)
    sed -i "s/^redis_port=.*/redis_port=$redis_port/" "$dir/state.env"
  done
}

up() {
  local first=0 started=$SECONDS
  [ -x "$pgbin/postgres" ] || die "PostgreSQL 15 is not installed ($pgbin/postgres missing); run scripts/install-deps.sh"
  command -v redis-server >/dev/null || die "redis-server is not installed; run scripts/install-deps.sh"
  [ -f "$dir/$marker" ] || [ ! -e "$dir" ] || [ -z "$(ls -A "$dir")" ] ||
    die "$dir exists and is not a services directory; choose an empty one"
  mkdir -p "$dir"
  lock_dir
  # The marker comes first, so that `down` can clean up after an `up` that
  # was interrupted at any point.
  touch "$dir/$marker"
  chmod 0755 "$dir"
  mkdir -p "$dir/logs" "$dir/pids" "$dir/redis"
  ensure_pg_user
  if [ ! -f "$dir/state.env" ]; then
    first=1
    choose_pg_root
    pg_port=$(free_port)
    redis_port=$(free_port)
    admin_password=$(random_secret)
    app_password=$(random_secret)
    cat >"$dir/state.env.tmp" <<STATE
addr=${PRICING_SERVICES_ADDR:-127.0.0.1}
clients=${PRICING_SERVICES_CLIENTS:-}
pg_root=$pg_root
pg_port=$pg_port
redis_port=$redis_port
admin_password=$admin_password
app_password=$app_password
STATE
    chmod 600 "$dir/state.env.tmp"
    mv "$dir/state.env.tmp" "$dir/state.env"
  fi
  load_state
  if [ ! -f "$dir/.pg-initialized" ]; then
    # First start, or an earlier `up` stopped before initdb finished.
    first=1
    stop_pg
    rm -rf "$pg_root/data"
    init_pg
    touch "$dir/.pg-initialized"
  fi
  ensure_pg "$first"
  bootstrap_pg
  ensure_redis "$first"
  write_env
  log "ready in $((SECONDS - started)) s (PostgreSQL $addr:$pg_port, Redis $addr:$redis_port, logs in $dir/logs)"
  cat "$dir/services.env"
}

stop_pg() {
  stop_pid "$(pid_of postgres)" postgres INT
  rm -f "$dir/pids/postgres.pid"
}

stop_redis() {
  stop_pid "$(pid_of redis)" redis-server TERM
  rm -f "$dir/pids/redis.pid"
}

down() {
  [ -e "$dir" ] || return 0
  [ -f "$dir/$marker" ] || die "$dir is not a services directory; not removing it"
  dir=$(cd "$dir" && pwd -P)
  lock_dir
  pg_root=""
  # shellcheck disable=SC1091
  [ -f "$dir/state.env" ] && . "$dir/state.env"
  stop_redis
  stop_pg
  case "$pg_root" in
    /var/tmp/pricing-pg-*) rm -rf "$pg_root" ;;
  esac
  rm -rf "$dir"
}

[ -n "$cmd" ] || usage
case "$cmd" in
  up | stop-pg | start-pg | stop-redis | start-redis)
    mkdir -p "$(dirname "$dir")"
    dir=$(cd "$(dirname "$dir")" && pwd -P)/$(basename "$dir")
    ;;
esac

case "$cmd" in
  up) up ;;
  down) down ;;
  env)
    [ -f "$dir/services.env" ] || die "no services at $dir"
    cat "$dir/services.env"
    ;;
  stop-pg) load_state; lock_dir; stop_pg; write_env ;;
  start-pg) load_state; lock_dir; ensure_pg 0; write_env ;;
  stop-redis) load_state; lock_dir; stop_redis; write_env ;;
  start-redis) load_state; lock_dir; ensure_redis 0; write_env ;;
  *) usage ;;
esac
