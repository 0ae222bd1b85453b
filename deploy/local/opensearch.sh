#!/usr/bin/env bash
# Single-node OpenSearch from Maven Central artifacts, run with the machine's Java (17+).
# Usage: opensearch.sh install|start|stop|status
#
# Maven Central has the server jar and each module as a plain jar, but no distribution: this script
# lays out an OpenSearch home the way the tarball does (lib/, modules/<name>/ with a plugin
# descriptor and security policy, config/, plugins/) and starts org.opensearch.bootstrap.OpenSearch
# directly. Only the HTTP transport (transport-netty4) and the analyzers (analysis-common: the
# `english` analyzer, stemmers, stop words) are installed; no security plugin, so plain HTTP on
# 127.0.0.1 only.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

OPENSEARCH_VERSION="${RAGSTREAM_STACK__OPENSEARCH_VERSION:-2.19.6}"
OPENSEARCH_PORT="${RAGSTREAM_STACK__OPENSEARCH_PORT:-19200}"
OPENSEARCH_TRANSPORT_PORT="${RAGSTREAM_STACK__OPENSEARCH_TRANSPORT_PORT:-19300}"
OPENSEARCH_HEAP="${RAGSTREAM_STACK__OPENSEARCH_HEAP:-512m}"

POM_DIR="$ROOT/deploy/local/opensearch"
# Bump when install() lays the folder out differently (descriptors, policies).
DIST_LAYOUT=1
# The poms' hash is part of the folder name, so a changed dependency set is fetched anew.
DIST="$CACHE_DIR/opensearch-$OPENSEARCH_VERSION-$(cat "$POM_DIR/pom.xml" "$POM_DIR/modules.xml" <(echo "$DIST_LAYOUT") | sha1sum | cut -c1-8)"
STATE_DIR="$STACK_DIR/opensearch"
PID_FILE="$STATE_DIR/opensearch.pid"
URL="http://127.0.0.1:$OPENSEARCH_PORT"

# OpenSearch refuses to run as root. As root the node runs as `nobody` (setpriv, no fork, so the pid
# file holds the JVM's pid), from a home of its own that `nobody` can read and write; otherwise the
# home is the stack folder and lib/ and modules/ point into the cache.
RUN_AS=""
HOME_DIR="$STATE_DIR"
if [[ "$(id -u)" == 0 ]]; then
  RUN_AS="${RAGSTREAM_STACK__OPENSEARCH_USER:-nobody}"
  HOME_DIR="/var/lib/ragstream/opensearch-$(printf '%s' "$STACK_DIR" | sha1sum | cut -c1-12)"
fi
CONF_DIR="$HOME_DIR/config"
LOG_DIR="$HOME_DIR/logs"

# module folder | Maven artifact (org.opensearch.plugin) | plugin class
MODULES=(
  "transport-netty4|transport-netty4-client|org.opensearch.transport.Netty4Plugin"
  "analysis-common|analysis-common|org.opensearch.analysis.common.CommonAnalysisPlugin"
)

install() {
  if [[ -f "$DIST/.complete" ]]; then return 0; fi
  command -v mvn >/dev/null || die "Maven (mvn) is required to fetch OpenSearch from Maven Central"
  log "resolving OpenSearch $OPENSEARCH_VERSION from Maven Central into $DIST"
  # A fresh folder: a half-copied module from an interrupted run must not mix with a new one.
  rm -rf "$DIST"
  mvn -q -B -f "$POM_DIR/pom.xml" -Dopensearch.version="$OPENSEARCH_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$DIST/lib" >&2
  local entry name artifact classname jar
  for entry in "${MODULES[@]}"; do
    IFS='|' read -r name artifact classname <<<"$entry"
    mvn -q -B -f "$POM_DIR/modules.xml" -Dopensearch.version="$OPENSEARCH_VERSION" \
      -Dmodule.artifact="$artifact" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$DIST/modules/$name" >&2
    # OpenSearch refuses to start when a module repeats a class of the core classpath ("jar hell").
    for jar in "$DIST/modules/$name"/*.jar; do
      [[ -f "$DIST/lib/$(basename "$jar")" ]] && rm -f "$jar"
    done
    write_descriptor "$DIST/modules/$name" "$name" "$classname"
  done
  # The policy a distribution ships with the netty module (modules/transport-netty4/src/main/plugin-metadata).
  cat >"$DIST/modules/transport-netty4/plugin-security.policy" <<'POLICY'
grant {
  permission java.io.FilePermission "/proc/sys/net/core/somaxconn", "read";
  permission java.net.SocketPermission "*", "accept,connect";
  permission java.lang.RuntimePermission "*", "setContextClassLoader";
  permission java.lang.RuntimePermission "getClassLoader";
  permission java.util.PropertyPermission "sun.nio.ch.bugLevel", "write";
};
POLICY
  touch "$DIST/.complete"
}

write_descriptor() {
  local dir="$1" name="$2" classname="$3"
  cat >"$dir/plugin-descriptor.properties" <<DESC
description=$name module (laid out by ragstream's opensearch.sh)
version=$OPENSEARCH_VERSION
name=$name
classname=$classname
java.version=11
opensearch.version=$OPENSEARCH_VERSION
extended.plugins=
has.native.controller=false
DESC
}

check_java() {
  command -v java >/dev/null || die "Java 17 or newer is required (java not found)"
  local version major
  version="$(java -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')"
  major="${version%%.*}"
  [[ "$major" =~ ^[0-9]+$ && "$major" -ge 17 ]] || die "OpenSearch $OPENSEARCH_VERSION needs Java 17+, found '$version'"
  JAVA_MAJOR="$major"
}

layout_home() {
  # bin/ stays empty, but the security manager setup insists on reading it.
  mkdir -p "$STATE_DIR" "$CONF_DIR" "$HOME_DIR/data" "$LOG_DIR" "$HOME_DIR/tmp" "$HOME_DIR/plugins" "$HOME_DIR/bin"
  if [[ -z "$RUN_AS" ]]; then
    ln -sfn "$DIST/lib" "$HOME_DIR/lib"
    ln -sfn "$DIST/modules" "$HOME_DIR/modules"
  elif [[ "$(cat "$HOME_DIR/.dist" 2>/dev/null)" != "$DIST" ]]; then
    # The cache usually sits in root's private home: copy the jars where `nobody` can read them.
    rm -rf "$HOME_DIR/lib" "$HOME_DIR/modules"
    cp -r "$DIST/lib" "$DIST/modules" "$HOME_DIR/"
    echo "$DIST" >"$HOME_DIR/.dist"
  fi
  if [[ -n "$RUN_AS" ]]; then
    chmod 0755 /var/lib/ragstream "$HOME_DIR"
    # config/ too: the node creates its keystore there on first start.
    chown -R "$RUN_AS" "$CONF_DIR" "$HOME_DIR/data" "$LOG_DIR" "$HOME_DIR/tmp"
  fi
}

write_config() {
  cat >"$CONF_DIR/opensearch.yml" <<CONF
cluster.name: ragstream-local
node.name: ragstream-local-1
path.data: $HOME_DIR/data
path.logs: $LOG_DIR
network.host: 127.0.0.1
http.port: $OPENSEARCH_PORT
transport.port: $OPENSEARCH_TRANSPORT_PORT
discovery.type: single-node
bootstrap.memory_lock: false
# A development node on a shared disk: never turn indexes read-only because the disk is 90% full.
cluster.routing.allocation.disk.threshold_enabled: false
# Indexes are created by the application with explicit mappings; a typo must not create one.
action.auto_create_index: false
CONF
  # OpenSearch reads every log4j2.properties under the config folder and substitutes its own
  # sys:opensearch.logs.* properties.
  cat >"$CONF_DIR/log4j2.properties" <<'LOG'
status = error
appender.rolling.type = RollingFile
appender.rolling.name = rolling
appender.rolling.fileName = ${sys:opensearch.logs.base_path}${sys:file.separator}${sys:opensearch.logs.cluster_name}.log
appender.rolling.filePattern = ${sys:opensearch.logs.base_path}${sys:file.separator}${sys:opensearch.logs.cluster_name}-%i.log.gz
appender.rolling.layout.type = PatternLayout
appender.rolling.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%marker %m%n
appender.rolling.policies.type = Policies
appender.rolling.policies.size.type = SizeBasedTriggeringPolicy
appender.rolling.policies.size.size = 64MB
appender.rolling.strategy.type = DefaultRolloverStrategy
appender.rolling.strategy.max = 2
rootLogger.level = info
rootLogger.appenderRef.rolling.ref = rolling
logger.deprecation.name = org.opensearch.deprecation
logger.deprecation.level = error
LOG
}

java_args() {
  JAVA_ARGS=(
    -Xms"$OPENSEARCH_HEAP" -Xmx"$OPENSEARCH_HEAP" -XX:+UseG1GC -Xss1m
    -Djava.io.tmpdir="$HOME_DIR/tmp" -Djava.awt.headless=true -Dfile.encoding=UTF-8 -Djna.nosys=true
    -XX:-OmitStackTraceInFastThrow -XX:+HeapDumpOnOutOfMemoryError -XX:HeapDumpPath="$HOME_DIR/data"
    -XX:ErrorFile="$LOG_DIR/hs_err_pid%p.log"
    -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true
    -Dio.netty.recycler.maxCapacityPerThread=0 -Dio.netty.allocator.numDirectArenas=0
    -Dlog4j.shutdownHookEnabled=false -Dlog4j2.disable.jmx=true -Dlog4j2.formatMsgNoLookups=true
    -Djava.locale.providers=SPI,COMPAT
    -Dopensearch.networkaddress.cache.ttl=60 -Dopensearch.networkaddress.cache.negative.ttl=10
    -Dopensearch.path.home="$HOME_DIR" -Dopensearch.path.conf="$CONF_DIR"
    -Dopensearch.distribution.type=tar -Dopensearch.bundled_jdk=false
  )
  # OpenSearch 2.x installs a security manager, which Java 18+ only allows when asked to.
  if [[ "$JAVA_MAJOR" -ge 18 ]]; then JAVA_ARGS+=(-Djava.security.manager=allow); fi
  JAVA_ARGS+=(-cp "$HOME_DIR/lib/*")
}

http_up() { curl -fsS -o /dev/null --max-time 2 "$URL/_cluster/health?wait_for_status=yellow&timeout=1s" 2>/dev/null; }

wait_http() { wait_alive http_up "$PID_FILE"; }

start() {
  install
  check_java
  mkdir -p "$STATE_DIR"
  if pid_alive "$PID_FILE"; then
    http_up || wait_http || die "OpenSearch (pid $(cat "$PID_FILE")) runs but $URL does not answer; see $LOG_DIR"
    log "opensearch already running (pid $(cat "$PID_FILE")) at $URL"; return 0
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$OPENSEARCH_PORT") 2>/dev/null; then
    die "port $OPENSEARCH_PORT is taken by a process this script did not start; set RAGSTREAM_STACK__OPENSEARCH_PORT"
  fi
  layout_home
  write_config
  java_args
  local launcher=()
  if [[ -n "$RUN_AS" ]]; then
    launcher=(setpriv --reuid="$RUN_AS" --regid="$(id -g "$RUN_AS")" --clear-groups env HOME="$HOME_DIR")
  fi
  # setsid: the node must outlive the shell (and test session) that started it.
  setsid "${launcher[@]}" java "${JAVA_ARGS[@]}" org.opensearch.bootstrap.OpenSearch \
    >>"$STATE_DIR/opensearch.out" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  wait_http || die "OpenSearch did not answer at $URL; see $LOG_DIR/ragstream-local.log and $STATE_DIR/opensearch.out"
  log "opensearch listening on $URL (logs: $LOG_DIR)"
}

stop() { stop_pid_file "$PID_FILE" opensearch; }

status() {
  if pid_alive "$PID_FILE"; then
    local state="starting"; http_up && state="ready"
    echo "opensearch running pid=$(cat "$PID_FILE") url=$URL state=$state log=$LOG_DIR"
  else echo "opensearch stopped"; return 3; fi
}

dispatch "$@"
