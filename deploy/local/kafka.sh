#!/usr/bin/env bash
# Single-node Apache Kafka in KRaft mode, from Maven Central artifacts, run with the machine's Java.
# Usage: kafka.sh install|start|stop|status
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

LIBS="$KAFKA_LIBS"
HOME_DIR="$STACK_DIR/kafka"
DATA_DIR="$HOME_DIR/data"
PID_FILE="$HOME_DIR/kafka.pid"
LOG_FILE="$HOME_DIR/kafka.log"
CONF="$HOME_DIR/server.properties"

install() {
  if [[ -f "$LIBS/.complete" ]]; then return 0; fi
  command -v mvn >/dev/null || die "Maven (mvn) is required to fetch Kafka from Maven Central"
  log "resolving Kafka $KAFKA_VERSION from Maven Central into $LIBS"
  mvn -q -B -f "$ROOT/deploy/local/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIBS" >&2
  touch "$LIBS/.complete"
}

write_config() {
  mkdir -p "$DATA_DIR"
  cat >"$CONF" <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT,SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_ragstream="$KAFKA_SASL_PASSWORD";
log.dirs=$DATA_DIR
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
message.max.bytes=16777216
log.retention.hours=-1
CONF
  cat >"$HOME_DIR/log4j2.properties" <<LOG
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=FILE
appender.file.type=File
appender.file.name=FILE
appender.file.fileName=$LOG_FILE
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka
logger.kafka.level=WARN
logger.apache.name=org.apache.kafka
logger.apache.level=WARN
LOG
}

JAVA_ARGS=(-Xms256m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true
  -Dlog4j2.configurationFile="$HOME_DIR/log4j2.properties" -cp "$LIBS/*")
java_cmd() { java "${JAVA_ARGS[@]}" "$@"; }

start() {
  install
  mkdir -p "$HOME_DIR"
  if pid_alive "$PID_FILE"; then log "kafka already running (pid $(cat "$PID_FILE"))"; return 0; fi
  write_config
  # Storage is formatted once; a restart keeps the data and the cluster id.
  if [[ ! -f "$DATA_DIR/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid | tail -1)"
    java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$CONF" >>"$HOME_DIR/format.log" 2>&1 \
      || die "formatting Kafka storage failed, see $HOME_DIR/format.log"
  fi
  # setsid: the broker must outlive the shell (and test session) that started it.
  setsid java "${JAVA_ARGS[@]}" kafka.Kafka "$CONF" >>"$HOME_DIR/kafka.out" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  wait_port "$KAFKA_PORT" 90 || die "Kafka did not open port $KAFKA_PORT; see $LOG_FILE and $HOME_DIR/kafka.out"
  wait_port "$KAFKA_SASL_PORT" 30 || die "Kafka did not open its SASL port $KAFKA_SASL_PORT; see $LOG_FILE"
  log "kafka listening on 127.0.0.1:$KAFKA_PORT (logs: $LOG_FILE)"
}

stop() { stop_pid_file "$PID_FILE" kafka; }

status() {
  if pid_alive "$PID_FILE"; then echo "kafka running pid=$(cat "$PID_FILE") listen=127.0.0.1:$KAFKA_PORT log=$LOG_FILE"
  else echo "kafka stopped"; return 3; fi
}

dispatch "$@"
