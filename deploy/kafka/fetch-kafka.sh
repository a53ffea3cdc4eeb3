#!/usr/bin/env bash
# Fetch the Apache Kafka broker jars from Maven Central into a cache directory (default
# ~/.cache/tandem/kafka-<version>/libs). Needs Java 17+ and Maven. Idempotent.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")"
dest="${1:-${TANDEM_CACHE_DIR:-$HOME/.cache/tandem}/kafka-$version/libs}"
if [ -f "$dest/.complete" ]; then echo "$dest"; exit 0; fi
mkdir -p "$dest"
mvn -q -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies -DoutputDirectory="$dest" -DincludeScope=runtime >&2
touch "$dest/.complete"
echo "$dest"
