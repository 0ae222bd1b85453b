#!/usr/bin/env bash
# A PostgreSQL cluster owned by the stack (own port, own data dir), from Debian's packages, so a
# system cluster is never touched. Usage: postgres.sh install|start|stop|status
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# As root the cluster runs as user `postgres`, which may not be able to reach a checkout in a private
# folder; then the cluster's files live in a folder of their own, still one per stack.
resolve_home() {
  HOME_DIR="$STACK_DIR/postgres"
  if [[ "$(id -u)" == 0 ]] && id postgres >/dev/null 2>&1; then
    mkdir -p "$HOME_DIR"; chown postgres "$HOME_DIR"
    if ! runuser -u postgres -- test -w "$HOME_DIR" 2>/dev/null; then
      HOME_DIR="/var/lib/ragstream/pg-$(printf '%s' "$STACK_DIR" | sha1sum | cut -c1-12)"
      mkdir -p "$HOME_DIR"; chown postgres "$HOME_DIR"; chmod 0755 /var/lib/ragstream
    fi
  fi
  DATA_DIR="$HOME_DIR/data"
  LOG_FILE="$HOME_DIR/postgres.log"
}

pg_bin() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
  [[ -n "$dir" ]] && echo "$dir"
}

install() {
  if [[ -n "$(pg_bin)" ]]; then return 0; fi
  [[ "$(id -u)" == 0 ]] || die "PostgreSQL is not installed; run as root or: sudo apt-get install postgresql"
  log "installing PostgreSQL from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
  # The package starts a system cluster; this stack never uses or stops it.
}

# PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user.
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  install
  resolve_home
  local bin; bin="$(pg_bin)"
  if as_owner "$bin/pg_ctl" -D "$DATA_DIR" status >/dev/null 2>&1; then
    log "postgres already running on 127.0.0.1:$PG_PORT"; return 0
  fi
  if [[ ! -f "$DATA_DIR/PG_VERSION" ]]; then
    as_owner "$bin/initdb" -D "$DATA_DIR" -U "$PG_USER" --auth=trust -E UTF8 --locale=C.UTF-8 >"$HOME_DIR/initdb.log" 2>&1 \
      || die "initdb failed, see $HOME_DIR/initdb.log (is $STACK_DIR readable by user postgres?)"
  fi
  as_owner "$bin/pg_ctl" -D "$DATA_DIR" -l "$LOG_FILE" -w -t 60 \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c wal_level=logical -c max_wal_senders=8 -c max_replication_slots=8 -c fsync=off -c max_connections=200" \
    start >/dev/null || die "PostgreSQL did not start, see $LOG_FILE"
  if ! as_owner "$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='$PG_DB'" | grep -q 1; then
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" "$PG_DB"
  fi
  log "postgres listening on 127.0.0.1:$PG_PORT db=$PG_DB user=$PG_USER (logs: $LOG_FILE)"
}

stop() {
  resolve_home
  local bin; bin="$(pg_bin)"
  [[ -n "$bin" && -f "$DATA_DIR/postmaster.pid" ]] || return 0
  as_owner "$bin/pg_ctl" -D "$DATA_DIR" -m fast -w stop >/dev/null 2>&1 || true
  log "postgres stopped"
}

status() {
  resolve_home
  local bin; bin="$(pg_bin)"
  if [[ -n "$bin" ]] && as_owner "$bin/pg_ctl" -D "$DATA_DIR" status >/dev/null 2>&1; then
    echo "postgres running listen=127.0.0.1:$PG_PORT db=$PG_DB log=$LOG_FILE"
  else echo "postgres stopped"; return 3; fi
}

dispatch "$@"
