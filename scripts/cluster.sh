#!/usr/bin/env bash
# The deployment docker-compose.yml describes (PostgreSQL, the Temporal server with its schema, namespace and
# segflow's search attributes, the Temporal Web UI), run from packages on one Linux machine without Docker:
# PostgreSQL from Debian's packages, the Temporal server, its SQL schema tool and the UI server built from Go
# modules at the versions in deploy/versions.env. segflow workers then run anywhere that reaches it.
#
#   bash scripts/cluster.sh up       # build/install what is missing, start what is not running (idempotent)
#   bash scripts/cluster.sh down     # stop everything; the database stays (add --purge to delete it)
#   bash scripts/cluster.sh status   # what runs, and where
#   bash scripts/cluster.sh env      # export lines for segflow: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, SEGFLOW_UI_URL
#   bash scripts/cluster.sh build    # only install/build the parts (CI does this before the tests)
#   bash scripts/cluster.sh versions # the Go packages it builds, at the versions of deploy/versions.env
#
# Settings (environment; defaults in brackets):
#   SEGFLOW_CLUSTER_DIR      state: database, configs, logs, pid files   [.cache/cluster/state]
#   SEGFLOW_CLUSTER_IP       address the Temporal frontend and the UI listen on   [127.0.0.1]
#   SEGFLOW_CLUSTER_PORT     Temporal frontend gRPC port; the other services use fixed offsets from it   [7233]
#   SEGFLOW_CLUSTER_UI_PORT  Web UI port   [8080]
#   SEGFLOW_CLUSTER_PG_PORT  PostgreSQL port, on 127.0.0.1 only   [55432]
#   SEGFLOW_CLUSTER_METRICS_PORT  the server's Prometheus metrics (e.g. its `action` counter, what Temporal Cloud
#                            would bill) on SEGFLOW_CLUSTER_IP:this port, like compose's PROMETHEUS_ENDPOINT;
#                            empty turns them off   [8000]
#   TEMPORAL_NAMESPACE [default], POSTGRES_PASSWORD [temporal], TEMPORAL_UI_ORIGIN, TEMPORAL_CODEC_ENDPOINT:
#   as in docker-compose.yml.
#
# Where this differs from docker-compose.yml, and why:
#   - PostgreSQL is Debian's (bookworm ships 15; compose pins POSTGRES_VERSION=16 from deploy/versions.env).
#     Temporal's postgres12 plugin supports PostgreSQL 12 and newer, and the schema is the same. It runs as its
#     own instance (own data directory, port 55432 on loopback), not as the machine's `main` cluster, so the
#     script never touches a database someone else runs.
#   - The Temporal server is `go.temporal.io/server/cmd/server` instead of the temporalio/server image, and the
#     schema tool `go.temporal.io/server/cmd/tools/sql` instead of the temporalio/admin-tools image; the same
#     one-shot jobs compose runs do the setup: deploy/setup-postgres-schema.sh, then deploy/setup-namespace.sh
#     (namespace, retention, segflow's search attributes).
#   - The server config is written here from the settings compose passes to the server image's config template
#     (config/docker.yaml in the server module); services bind SEGFLOW_CLUSTER_IP instead of a container address.
#   - The UI server is `github.com/temporalio/ui-server/v2/cmd/server` with the config template of the
#     temporalio/ui image (config/docker.yaml in its module), plus `host:` so it listens on SEGFLOW_CLUSTER_IP only
#     (compose publishes it on loopback only).
#   - No segflow worker or codec server: run `segflow worker` on as many hosts as you like (README "Deployment").
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../deploy/versions.env
. "$root/deploy/versions.env"

cache="${SEGFLOW_CACHE_DIR:-$root/.cache}/cluster"
state="${SEGFLOW_CLUSTER_DIR:-$cache/state}"
ip_addr="${SEGFLOW_CLUSTER_IP:-127.0.0.1}"
port="${SEGFLOW_CLUSTER_PORT:-7233}"
ui_port="${SEGFLOW_CLUSTER_UI_PORT:-8080}"
pg_port="${SEGFLOW_CLUSTER_PG_PORT:-55432}"
metrics_port="${SEGFLOW_CLUSTER_METRICS_PORT-8000}"
namespace="${TEMPORAL_NAMESPACE:-default}"
pg_password="${POSTGRES_PASSWORD:-temporal}"
# Same retention as compose's temporal-namespace job.
retention="168h"

# What is built, from deploy/versions.env (test/unit/versions.test.ts checks compose pins the same).
server_package="go.temporal.io/server/cmd/server@v$TEMPORAL_SERVER_VERSION"
sql_tool_package="go.temporal.io/server/cmd/tools/sql@v$TEMPORAL_SERVER_VERSION"
ui_package="github.com/temporalio/ui-server/v2/cmd/server@v$TEMPORAL_UI_VERSION"

server_dir="$cache/temporal-server-$TEMPORAL_SERVER_VERSION"
server_bin="$server_dir/temporal-server"
sql_tool="$server_dir/temporal-sql-tool"
ui_dir="$cache/ui-server-$TEMPORAL_UI_VERSION"
ui_bin="$ui_dir/ui-server"

log() { printf 'cluster: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# ---------------------------------------------------------------------------------------------------------
# Parts: Debian packages and Go builds (cached under .cache/cluster, keyed by version)
# ---------------------------------------------------------------------------------------------------------

apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "needs $* and there is no apt-get: install them, then re-run"
  log "installing $* from Debian packages (first run only)..."
  as_root apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >&2
}

pg_bin_dir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

install_packages() {
  local missing=()
  pg_bin_dir >/dev/null || missing+=(postgresql)
  command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
  if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
  pg_bin_dir >/dev/null || die "PostgreSQL's initdb not found under /usr/lib/postgresql/*/bin after installing it"
}

# go_build <package@version> <final path> : go install into a private GOBIN (the server and the UI server are
# both called `server`), then move the binary into place. CGO is not needed by either.
go_build() {
  local package="$1" target="$2" tmp
  command -v go >/dev/null 2>&1 || die "Go >= 1.25 is needed to build $package (https://go.dev/dl)"
  mkdir -p "$(dirname "$target")"
  tmp="$(mktemp -d "$(dirname "$target")/.gobin.XXXXXX")"
  log "building $package from Go modules (first run only; minutes)..."
  if ! CGO_ENABLED=0 GOBIN="$tmp" GOFLAGS=-mod=mod go install "$package" >&2; then
    rm -rf "$tmp"
    die "go install $package failed (see above)"
  fi
  mv "$tmp"/* "$target"
  rm -rf "$tmp"
}

module_dir() { go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'; }

build_parts() {
  local pids=() failed=0
  # The three builds are independent: run them side by side (each is mostly waiting on the compiler anyway).
  if [ ! -x "$server_bin" ]; then go_build "$server_package" "$server_bin" & pids+=($!); fi
  if [ ! -x "$sql_tool" ]; then go_build "$sql_tool_package" "$sql_tool" & pids+=($!); fi
  if [ ! -x "$ui_bin" ]; then go_build "$ui_package" "$ui_bin" & pids+=($!); fi
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [ "$failed" -eq 0 ] || die "a Go build failed (see above)"
  # The schema files and the UI's config template ship in the modules: keep copies next to the binaries.
  if [ ! -d "$server_dir/schema/postgresql" ]; then
    local module
    module="$(module_dir "go.temporal.io/server@v$TEMPORAL_SERVER_VERSION")"
    [ -d "$module/schema/postgresql/v12" ] || die "no schema/postgresql/v12 in $module"
    mkdir -p "$server_dir/schema/postgresql"
    cp -R "$module/schema/postgresql/v12" "$server_dir/schema/postgresql/"
    chmod -R u+w "$server_dir/schema"
  fi
  if [ ! -f "$ui_dir/docker.yaml" ]; then
    local module
    module="$(module_dir "github.com/temporalio/ui-server/v2@v$TEMPORAL_UI_VERSION")"
    cp "$module/config/docker.yaml" "$ui_dir/docker.yaml"
    chmod u+w "$ui_dir/docker.yaml"
  fi
  temporal_cli="$(bash "$root/scripts/install-temporal-cli.sh")"
}

build() {
  install_packages
  build_parts
}

# ---------------------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------------------

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# PostgreSQL refuses to run as root: as root it runs as the `postgres` user Debian's package creates.
pg_user_run() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_data_dir() {
  # The data directory must belong to the user PostgreSQL runs as, and that user must reach it. Under root,
  # the state directory may sit where `postgres` cannot go (e.g. /root): then it lives in postgres's home.
  if [ -L "$state/pgdata" ] || [ -d "$state/pgdata" ]; then readlink -f "$state/pgdata"; return; fi
  if [ "$(id -u)" -ne 0 ] || runuser -u postgres -- test -x "$state"; then
    echo "$state/pgdata"
  else
    echo "/var/lib/postgresql/segflow-cluster/$(printf '%s' "$state" | sha256sum | cut -c1-16)"
  fi
}

start_postgres() {
  local bin data
  bin="$(pg_bin_dir)"
  data="$(pg_data_dir)"
  if [ ! -f "$data/PG_VERSION" ]; then
    log "creating a PostgreSQL $("$bin/postgres" --version | awk '{print $3}') instance in $data"
    as_root mkdir -p "$data"
    if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$data"; chmod 700 "$data"; fi
    [ "$data" = "$state/pgdata" ] || ln -sfn "$data" "$state/pgdata"
    # Like the postgres image with POSTGRES_USER=temporal: the superuser is `temporal`, password auth over TCP.
    local pwfile
    pwfile="$(mktemp)"
    printf '%s\n' "$pg_password" >"$pwfile"
    chmod 644 "$pwfile"
    pg_user_run "$bin/initdb" -D "$data" -U temporal --pwfile="$pwfile" --auth-host=scram-sha-256 --auth-local=peer \
      --encoding=UTF8 --locale=C.UTF-8 >"$state/logs/initdb.log" 2>&1 || { rm -f "$pwfile"; cat "$state/logs/initdb.log" >&2; die "initdb failed"; }
    rm -f "$pwfile"
  fi
  if pg_user_run "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then return; fi
  log "starting PostgreSQL on 127.0.0.1:$pg_port"
  # The server log goes into the data directory (writable by postgres); no Unix socket (TCP on loopback only).
  pg_user_run "$bin/pg_ctl" -D "$data" -w -t 120 -l "$data/server.log" \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -c unix_socket_directories=''" start >/dev/null ||
    { tail -n 30 "$data/server.log" >&2 || true; die "PostgreSQL did not start"; }
}

stop_postgres() {
  local bin data
  bin="$(pg_bin_dir)" || return 0
  [ -e "$state/pgdata" ] || return 0
  data="$(readlink -f "$state/pgdata")"
  if pg_user_run "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "stopping PostgreSQL"
    pg_user_run "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  fi
}

# The schema job compose runs (deploy/setup-postgres-schema.sh), with the schema tool and files built here.
setup_schema() {
  PATH="$server_dir:$PATH" SQL_HOST=127.0.0.1 SQL_PORT="$pg_port" SQL_USER=temporal SQL_PASSWORD="$pg_password" \
    TEMPORAL_SCHEMA_DIR="$server_dir/schema/postgresql/v12" sh "$root/deploy/setup-postgres-schema.sh" \
    >>"$state/logs/schema.log" 2>&1 || { tail -n 20 "$state/logs/schema.log" >&2; die "setting up the schema failed (log: $state/logs/schema.log)"; }
}

write_server_config() {
  mkdir -p "$state/temporal/config"
  # Mirrors the server module's config/docker.yaml as the temporalio/server image renders it for compose's environment
  # (DB=postgres12, 4 history shards, SQL_MAX_CONNS 20 / SQL_VIS_MAX_CONNS 10, the dynamic config file of
  # deploy/dynamicconfig), with every service on $ip_addr. Internal ports keep docker.yaml's offsets from 7233.
  cat >"$state/temporal/config/development.yaml" <<EOF
# Written by scripts/cluster.sh; edits are overwritten on the next \`up\`.
log:
  stdout: true
  level: warn
persistence:
  numHistoryShards: 4
  defaultStore: default
  visibilityStore: visibility
  datastores:
    default:
      sql:
        pluginName: postgres12
        databaseName: temporal
        connectAddr: "127.0.0.1:$pg_port"
        connectProtocol: tcp
        user: temporal
        password: "$pg_password"
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: 1h
    visibility:
      sql:
        pluginName: postgres12
        databaseName: temporal_visibility
        connectAddr: "127.0.0.1:$pg_port"
        connectProtocol: tcp
        user: temporal
        password: "$pg_password"
        maxConns: 10
        maxIdleConns: 10
        maxConnLifetime: 1h
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "$ip_addr"
  pprof:
    port: 0
$(if [ -n "$metrics_port" ]; then printf '  metrics:\n    prometheus:\n      framework: tally\n      timerType: histogram\n      listenAddress: "%s:%s"\n' "$ip_addr" "$metrics_port"; fi)
services:
  frontend:
    rpc: { grpcPort: $port, membershipPort: $((port - 300)), bindOnIP: "$ip_addr", httpPort: $((port + 10)) }
  matching:
    rpc: { grpcPort: $((port + 2)), membershipPort: $((port - 298)), bindOnIP: "$ip_addr" }
  history:
    rpc: { grpcPort: $((port + 1)), membershipPort: $((port - 299)), bindOnIP: "$ip_addr" }
  worker:
    rpc: { grpcPort: $((port + 6)), membershipPort: $((port - 294)), bindOnIP: "$ip_addr" }
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "$ip_addr:$port"
      httpAddress: "$ip_addr:$((port + 10))"
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: "$root/deploy/dynamicconfig/development.yaml"
  pollInterval: 60s
EOF
  chmod 600 "$state/temporal/config/development.yaml"
}

temporal_healthy() {
  "$temporal_cli" operator cluster health --address "$ip_addr:$port" --command-timeout 5s 2>/dev/null | grep -q SERVING
}

start_temporal() {
  if pid_alive "$state/temporal.pid"; then return; fi
  write_server_config
  log "starting Temporal server $TEMPORAL_SERVER_VERSION on $ip_addr:$port"
  # Its own session, so it outlives this script; the pid file is how `down` finds it.
  TEMPORAL_VERSION_CHECK_DISABLED=1 setsid "$server_bin" --root "$state/temporal" --config config --env development \
    --allow-no-auth start >>"$state/logs/temporal.log" 2>&1 </dev/null &
  echo $! >"$state/temporal.pid"
  local waited=0
  until temporal_healthy; do
    pid_alive "$state/temporal.pid" || { tail -n 30 "$state/logs/temporal.log" >&2; die "Temporal server exited (log: $state/logs/temporal.log)"; }
    [ "$waited" -lt 240 ] || die "Temporal server not healthy after 240 s (log: $state/logs/temporal.log)"
    sleep 1
    waited=$((waited + 1))
  done
}

# The namespace job compose runs (deploy/setup-namespace.sh): the namespace with compose's retention, then segflow's
# search attributes (deploy/register-search-attributes.sh).
setup_namespace() {
  PATH="$(dirname "$temporal_cli"):$PATH" TEMPORAL_ADDRESS="$ip_addr:$port" TEMPORAL_NAMESPACE="$namespace" \
    TEMPORAL_NAMESPACE_RETENTION="$retention" sh "$root/deploy/setup-namespace.sh" >>"$state/logs/namespace.log" 2>&1 ||
    { tail -n 20 "$state/logs/namespace.log" >&2; die "creating the namespace or segflow's search attributes failed"; }
}

start_ui() {
  if pid_alive "$state/ui.pid"; then return; fi
  mkdir -p "$state/ui/config"
  # The temporalio/ui image's template, rendered by the UI server from the environment compose sets.
  { cat "$ui_dir/docker.yaml"; printf '\nhost: %s\n' "$ip_addr"; } >"$state/ui/config/docker.yaml"
  log "starting Temporal UI $TEMPORAL_UI_VERSION on http://$ip_addr:$ui_port"
  # The UI's writes (queries, signals, ...) carry a CSRF cookie marked Secure, which browsers keep over plain HTTP
  # only for localhost. On loopback that is compose's setting too; on another address (a private network) the UI
  # would show no query results at all, so the cookie may go over HTTP there (put TLS in front to do better).
  local origin="http://localhost:$ui_port" insecure_cookie=false
  case "$ip_addr" in 127.*|localhost) ;; *) origin="http://$ip_addr:$ui_port"; insecure_cookie=true ;; esac
  TEMPORAL_ADDRESS="$ip_addr:$port" TEMPORAL_UI_PORT="$ui_port" TEMPORAL_DEFAULT_NAMESPACE="$namespace" \
    TEMPORAL_CORS_ORIGINS="${TEMPORAL_UI_ORIGIN:-$origin}" TEMPORAL_CODEC_ENDPOINT="${TEMPORAL_CODEC_ENDPOINT:-}" \
    TEMPORAL_CSRF_COOKIE_INSECURE="${TEMPORAL_CSRF_COOKIE_INSECURE:-$insecure_cookie}" \
    setsid "$ui_bin" --root "$state/ui" --config config --env docker start >>"$state/logs/ui.log" 2>&1 </dev/null &
  echo $! >"$state/ui.pid"
  local waited=0
  until [ "$(curl_status "http://$ip_addr:$ui_port/api/v1/settings")" = 200 ]; do
    pid_alive "$state/ui.pid" || { tail -n 30 "$state/logs/ui.log" >&2; die "UI server exited (log: $state/logs/ui.log)"; }
    [ "$waited" -lt 60 ] || die "UI server not answering after 60 s (log: $state/logs/ui.log)"
    sleep 1
    waited=$((waited + 1))
  done
}

# HTTP status of a GET, with nothing but bash and Node (curl may be missing on a minimal machine).
curl_status() {
  node -e 'fetch(process.argv[1]).then((r) => console.log(r.status), () => console.log(0))' "$1"
}

stop_pid() {
  local file="$1" name="$2" waited=0
  pid_alive "$file" || { rm -f "$file"; return 0; }
  local pid
  pid="$(cat "$file")"
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$waited" -ge 30 ]; then kill -KILL "$pid" 2>/dev/null || true; break; fi
    sleep 0.5
    waited=$((waited + 1))
  done
  rm -f "$file"
}

print_env() {
  printf 'export TEMPORAL_ADDRESS=%s\n' "$ip_addr:$port"
  printf 'export TEMPORAL_NAMESPACE=%s\n' "$namespace"
  printf 'export SEGFLOW_UI_URL=%s\n' "http://$ip_addr:$ui_port"
}

up() {
  build
  mkdir -p "$state/logs"
  start_postgres
  setup_schema
  start_temporal
  setup_namespace
  start_ui
  log "up: Temporal $ip_addr:$port (namespace $namespace), UI http://$ip_addr:$ui_port, PostgreSQL 127.0.0.1:$pg_port"
  log "state and logs: $state"
  print_env
}

down() {
  stop_pid "$state/ui.pid" "Temporal UI"
  stop_pid "$state/temporal.pid" "Temporal server"
  stop_postgres
  if [ "${1:-}" = "--purge" ]; then
    local data=""
    [ -e "$state/pgdata" ] && data="$(readlink -f "$state/pgdata")"
    log "deleting $state${data:+ and $data}"
    [ -n "$data" ] && as_root rm -rf "$data"
    rm -rf "$state"
  fi
}

status() {
  local any=0
  for part in temporal ui; do
    if pid_alive "$state/$part.pid"; then echo "$part: running (pid $(cat "$state/$part.pid"))"; any=1; else echo "$part: stopped"; fi
  done
  local bin
  if bin="$(pg_bin_dir)" && [ -e "$state/pgdata" ] && pg_user_run "$bin/pg_ctl" -D "$(readlink -f "$state/pgdata")" status >/dev/null 2>&1; then
    echo "postgresql: running (127.0.0.1:$pg_port)"
    any=1
  else
    echo "postgresql: stopped"
  fi
  [ "$any" -eq 1 ]
}

case "${1:-}" in
  up) up ;;
  down) shift; down "$@" ;;
  status) status ;;
  env) print_env ;;
  versions) printf '%s\n' "$server_package" "$sql_tool_package" "$ui_package" ;;
  build) build; log "built: $server_bin, $sql_tool, $ui_bin" ;;
  *) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
