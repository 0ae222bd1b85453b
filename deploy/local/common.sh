#!/usr/bin/env bash
# Shared settings for the local stack scripts. Every value can be overridden from the environment,
# which is how `ragstream stack` passes its settings down.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK_DIR="${RAGSTREAM_STACK__DIR:-$ROOT/.stack}"
CACHE_DIR="${RAGSTREAM_STACK__CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ragstream}"
KAFKA_VERSION="${RAGSTREAM_STACK__KAFKA_VERSION:-4.1.1}"
KAFKA_PORT="${RAGSTREAM_STACK__KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${RAGSTREAM_STACK__KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_SASL_PORT="${RAGSTREAM_STACK__KAFKA_SASL_PORT:-19094}"
KAFKA_SASL_PASSWORD="${RAGSTREAM_STACK__KAFKA_SASL_PASSWORD:-ragstream-dev}"
KAFKA_HEAP="${RAGSTREAM_STACK__KAFKA_HEAP:-768m}"
PG_PORT="${RAGSTREAM_STACK__POSTGRES_PORT:-15432}"
PG_USER="${RAGSTREAM_STACK__POSTGRES_USER:-ragstream}"
PG_DB="${RAGSTREAM_STACK__POSTGRES_DB:-ragstream}"
mkdir -p "$STACK_DIR" "$CACHE_DIR"
# The pom's hash is part of the folder name, so a changed dependency set is fetched anew.
KAFKA_LIBS="$CACHE_DIR/kafka-$KAFKA_VERSION-$(sha1sum "$ROOT/deploy/local/kafka/pom.xml" | cut -c1-8)/libs"

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Stops the process in a pid file: TERM, up to 30 s for a clean shutdown, then KILL.
stop_pid_file() {
  local pid_file="$1" name="$2"
  if pid_alive "$pid_file"; then
    local pid; pid="$(cat "$pid_file")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
    log "$name stopped"
  fi
  rm -f "$pid_file"
}

# Waits until a TCP port accepts connections, or fails after $2 seconds.
wait_port() {
  local port="$1" timeout="$2" i
  for ((i = 0; i < timeout * 4; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.25
  done
  return 1
}

# Waits while the process in pid file $2 lives until the command $1 succeeds; fails after 180 s.
wait_alive() {
  local check="$1" pid_file="$2" i
  for ((i = 0; i < 180 * 2; i++)); do
    "$check" && return 0
    pid_alive "$pid_file" || return 1
    sleep 0.5
  done
  return 1
}

# The entry point of every service script: install|start|stop|status, each a function of the script.
dispatch() {
  case "${1:-}" in
    install) install ;; start) start ;; stop) stop ;; status) status ;;
    *) die "usage: $0 install|start|stop|status" ;;
  esac
}
