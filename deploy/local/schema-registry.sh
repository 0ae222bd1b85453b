#!/usr/bin/env bash
# The schema registry (Confluent-compatible REST API, Avro) that every ragstream client and the
# Kafka Connect converters use; ragstream's own server, schemas stored in the stack's PostgreSQL.
# Apicurio Registry could not be built from the artifacts Maven Central serves here: see
# docs/schema-registry.md. Usage: schema-registry.sh install|start|stop|status
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

REGISTRY_PORT="${RAGSTREAM_STACK__SCHEMA_REGISTRY_PORT:-18081}"
PYTHON="${RAGSTREAM_LOCAL_PYTHON:-python3}"
HOME_DIR="$STACK_DIR/schema-registry"
PID_FILE="$HOME_DIR/schema-registry.pid"
LOG_FILE="$HOME_DIR/schema-registry.log"
URL="http://127.0.0.1:$REGISTRY_PORT"

install() { "$PYTHON" -c 'import ragstream.schemaregistry.api' || die "ragstream is not importable by $PYTHON"; }

ready() { curl -fsS -o /dev/null --max-time 2 "$URL/subjects" 2>/dev/null; }

start() {
  mkdir -p "$HOME_DIR"
  if pid_alive "$PID_FILE"; then
    wait_alive ready "$PID_FILE" || die "schema registry (pid $(cat "$PID_FILE")) does not answer at $URL; see $LOG_FILE"
    log "schema registry already running (pid $(cat "$PID_FILE")) at $URL"; return 0
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$REGISTRY_PORT") 2>/dev/null; then
    die "port $REGISTRY_PORT is taken by a process this script did not start; set RAGSTREAM_STACK__SCHEMA_REGISTRY_PORT"
  fi
  install
  wait_port "$PG_PORT" 5 || die "PostgreSQL is not listening on $PG_PORT; start it first: deploy/local/postgres.sh start"
  # setsid: the registry must outlive the shell (and test session) that started it.
  # The scripts' own RAGSTREAM_STACK__POSTGRES_* are not ragstream settings: the server would refuse them.
  env -u RAGSTREAM_STACK__POSTGRES_USER -u RAGSTREAM_STACK__POSTGRES_DB \
    RAGSTREAM_POSTGRES__PORT="$PG_PORT" RAGSTREAM_POSTGRES__USER="$PG_USER" RAGSTREAM_POSTGRES__DATABASE="$PG_DB" \
    setsid "$PYTHON" -m ragstream.cli.main serve schema-registry --port "$REGISTRY_PORT" \
    >>"$LOG_FILE" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  wait_alive ready "$PID_FILE" || die "the schema registry did not answer at $URL; see $LOG_FILE"
  log "schema registry at $URL (logs: $LOG_FILE)"
}

stop() { stop_pid_file "$PID_FILE" schema-registry; }

status() {
  if pid_alive "$PID_FILE"; then echo "schema-registry running pid=$(cat "$PID_FILE") url=$URL log=$LOG_FILE"
  else echo "schema-registry stopped"; return 3; fi
}

dispatch "$@"
