#!/usr/bin/env bash
# Kafka Connect in distributed mode (state in Kafka topics, so connectors survive restarts) with the
# Debezium PostgreSQL connector and Apicurio Registry's Avro converter (Debezium writes change events
# as Avro through the stack's schema registry), from Maven Central artifacts, run with the machine's
# Java (17+).
# Usage: connect.sh install|start|stop|status
# Expect one ERROR in the log at startup: Debezium's CloudEventsConverter does not load against this
# worker's JsonConverter. Nothing here uses it; the JSON and Avro converters are unaffected.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CONNECT_PORT="${RAGSTREAM_STACK__CONNECT_PORT:-18083}"
CONNECT_HEAP="${RAGSTREAM_STACK__CONNECT_HEAP:-512m}"
# Names the worker group and its three internal topics: two Connect clusters on one Kafka need two names.
CONNECT_GROUP="${RAGSTREAM_STACK__CONNECT_GROUP:-ragstream-connect}"
DEBEZIUM_VERSION="${RAGSTREAM_STACK__DEBEZIUM_VERSION:-3.6.1.Final}"
APICURIO_VERSION="${RAGSTREAM_STACK__APICURIO_VERSION:-2.6.13.Final}"
# Connector configs refer to database passwords through config providers, never literally (see
# "Secrets" in connectors/README.md): ${env:NAME} for a variable of this worker's environment whose
# name has this prefix, ${file:PATH:NAME} for a properties file under the secrets folder.
SECRET_PREFIX="${RAGSTREAM_CDC__SECRET_PREFIX:-RAGSTREAM_CDC_SECRET_}"

WORKER_LIBS="$CACHE_DIR/connect-worker-libs"
PLUGIN_PATH="$CACHE_DIR/connect-plugins"
DEBEZIUM_DIR="$PLUGIN_PATH/debezium-connector-postgres-$DEBEZIUM_VERSION"
APICURIO_DIR="$PLUGIN_PATH/apicurio-registry-converter-$APICURIO_VERSION"
# The class every connector config names for Avro (connectors/debezium-postgres.json).
AVRO_CONVERTER="io.apicurio.registry.utils.converter.AvroConverter"
HOME_DIR="$STACK_DIR/connect"
SECRETS_DIR="${RAGSTREAM_STACK__CONNECT_SECRETS_DIR:-$HOME_DIR/secrets}"
PID_FILE="$HOME_DIR/connect.pid"
LOG_FILE="$HOME_DIR/connect.log"
CONF="$HOME_DIR/connect-distributed.properties"
REST_URL="http://127.0.0.1:$CONNECT_PORT"

# Resolves a pom's runtime dependencies from Maven Central into a fresh folder: a half-copied plugin
# from an interrupted run must not mix with a new one. Usage: fetch DIR POM WHAT [-Dname=value...]
fetch() {
  local dir="$1" pom="$2" what="$3"; shift 3
  log "resolving $what from Maven Central into $dir"
  rm -rf "$dir"
  mvn -q -B -f "$ROOT/deploy/local/connect/$pom" "$@" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir" >&2
}

install() {
  # connect-runtime, connect-json and Jetty are already part of the Kafka libs.
  [[ -f "$KAFKA_LIBS/.complete" ]] || bash "$ROOT/deploy/local/kafka.sh" install
  if [[ -f "$DEBEZIUM_DIR/.complete" && -f "$APICURIO_DIR/.complete" && -f "$WORKER_LIBS/.complete" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "Maven (mvn) is required to fetch Debezium from Maven Central"
  if [[ ! -f "$WORKER_LIBS/.complete" ]]; then
    fetch "$WORKER_LIBS" worker/pom.xml "the Connect worker's extra libraries"
    touch "$WORKER_LIBS/.complete"
  fi
  if [[ ! -f "$DEBEZIUM_DIR/.complete" ]]; then
    fetch "$DEBEZIUM_DIR" pom.xml "Debezium PostgreSQL connector $DEBEZIUM_VERSION" -Ddebezium.version="$DEBEZIUM_VERSION"
    touch "$DEBEZIUM_DIR/.complete"
  fi
  if [[ ! -f "$APICURIO_DIR/.complete" ]]; then
    fetch "$APICURIO_DIR" apicurio/pom.xml "Apicurio Registry's Avro converter $APICURIO_VERSION" \
      -Dapicurio.version="$APICURIO_VERSION"
    # Its jars carry no ServiceLoader manifests, which plugin.discovery=service_load needs: Kafka's
    # own tool writes them (a small shim jar in the plugin folder).
    check_java
    java -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.ConnectPluginPath sync-manifests \
      --plugin-location "$APICURIO_DIR" >/dev/null
    touch "$APICURIO_DIR/.complete"
  fi
}

check_java() {
  command -v java >/dev/null || die "Java 17 or newer is required (java not found)"
  local version major
  version="$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
  major="${version%%.*}"
  [[ "$major" =~ ^[0-9]+$ && "$major" -ge 17 ]] || die "Kafka Connect $KAFKA_VERSION and Debezium need Java 17+, found '$version'"
}

write_config() {
  mkdir -p "$HOME_DIR" "$SECRETS_DIR"
  chmod 700 "$SECRETS_DIR"
  cat >"$CONF" <<CONF
bootstrap.servers=127.0.0.1:$KAFKA_PORT
group.id=$CONNECT_GROUP
config.storage.topic=$CONNECT_GROUP-configs
offset.storage.topic=$CONNECT_GROUP-offsets
status.storage.topic=$CONNECT_GROUP-status
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
offset.storage.partitions=5
status.storage.partitions=1
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=false
value.converter.schemas.enable=false
listeners=http://127.0.0.1:$CONNECT_PORT
rest.advertised.host.name=127.0.0.1
rest.advertised.port=$CONNECT_PORT
plugin.path=$PLUGIN_PATH
# Every plugin here ships ServiceLoader manifests: no slow reflective scan of all jars at startup.
plugin.discovery=service_load
# Debezium confirms the replication slot's position when offsets are flushed: flushing often keeps
# the WAL that PostgreSQL must retain small, and replays after a crash short.
offset.flush.interval.ms=2000
# One worker: no need to wait for others to join before assigning connectors.
scheduled.rebalance.max.delay.ms=0
# Secrets stay out of connector configs (and so out of the config topic and the REST API): a config
# says \${env:NAME} or \${file:PATH:NAME} and the worker resolves it when it starts the connector. The
# allowlists keep a connector config from reading any other variable or file of this worker.
config.providers=env,file
config.providers.env.class=org.apache.kafka.common.config.provider.EnvVarConfigProvider
config.providers.env.param.allowlist.pattern=^${SECRET_PREFIX}[A-Z0-9_]+\$
config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider
config.providers.file.param.allowed.paths=$SECRETS_DIR
CONF
  cat >"$HOME_DIR/log4j2.properties" <<LOG
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=FILE
appender.file.type=File
appender.file.name=FILE
appender.file.fileName=$LOG_FILE
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=org.apache.kafka
logger.kafka.level=WARN
logger.runtime.name=org.apache.kafka.connect.runtime
logger.runtime.level=INFO
logger.reflections.name=org.reflections
logger.reflections.level=ERROR
logger.debezium.name=io.debezium
logger.debezium.level=INFO
LOG
}

rest_up() { curl -fsS -o /dev/null --max-time 2 "$REST_URL/" 2>/dev/null; }

start() {
  install
  check_java
  mkdir -p "$HOME_DIR"
  if pid_alive "$PID_FILE"; then
    rest_up || wait_rest || die "Connect (pid $(cat "$PID_FILE")) runs but $REST_URL does not answer; see $LOG_FILE"
    grep -q '^config.providers=' "$CONF" 2>/dev/null \
      || log "warning: the running worker has no config providers (started by an older connect.sh); restart it so connector passwords resolve"
    curl -fsS --max-time 5 "$REST_URL/connector-plugins?connectorsOnly=false" 2>/dev/null | grep -q "$AVRO_CONVERTER" \
      || log "warning: the running worker has no $AVRO_CONVERTER (started by an older connect.sh); restart it so Avro connectors start"
    log "connect already running (pid $(cat "$PID_FILE")) at $REST_URL"; return 0
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$CONNECT_PORT") 2>/dev/null; then
    die "port $CONNECT_PORT is taken by a process this script did not start; set RAGSTREAM_STACK__CONNECT_PORT"
  fi
  wait_port "$KAFKA_PORT" 5 || die "Kafka is not listening on $KAFKA_PORT; start it first: deploy/local/kafka.sh start"
  write_config
  # setsid: the worker must outlive the shell (and test session) that started it.
  setsid java -Xms128m -Xmx"$CONNECT_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$HOME_DIR/log4j2.properties" -cp "$WORKER_LIBS/*:$KAFKA_LIBS/*" \
    org.apache.kafka.connect.cli.ConnectDistributed "$CONF" >>"$HOME_DIR/connect.out" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  wait_rest || die "Connect did not answer at $REST_URL; see $LOG_FILE and $HOME_DIR/connect.out"
  log "connect REST API at $REST_URL (plugins: $PLUGIN_PATH, logs: $LOG_FILE)"
}

# The REST API answers only after the worker joined its group and read the config topic.
wait_rest() { wait_alive rest_up "$PID_FILE"; }

stop() { stop_pid_file "$PID_FILE" connect; }

status() {
  if pid_alive "$PID_FILE"; then
    local state="starting"; rest_up && state="ready"
    echo "connect running pid=$(cat "$PID_FILE") rest=$REST_URL state=$state log=$LOG_FILE"
  else echo "connect stopped"; return 3; fi
}

dispatch "$@"
