#!/usr/bin/env bash
# Runs UpsertDocumentProducer.java with the machine's JDK (11+): its classpath is resolved from Maven
# Central once, into ~/.cache/ragstream (the pom's hash in the folder name), like the stack's jars.
# Usage: run.sh BOOTSTRAP REGISTRY_URL TOPIC SCHEMA_FILE TENANT DOCUMENT_ID TITLE CONTENT
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_DIR="${RAGSTREAM_STACK__CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ragstream}"
LIBS="$CACHE_DIR/java-producer-$(sha1sum "$HERE/pom.xml" | cut -c1-8)/libs"
if [[ ! -f "$LIBS/.complete" ]]; then
  command -v mvn >/dev/null || { echo "Maven (mvn) is required to fetch the Kafka client and Avro" >&2; exit 1; }
  mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIBS" >&2
  touch "$LIBS/.complete"
fi
exec java -cp "$LIBS/*" "$HERE/UpsertDocumentProducer.java" "$@"
