#!/usr/bin/env bash
# Vendors the dashboard's browser libraries from the npm registry into the feedback service's
# static files, with their licences: the dashboard loads nothing from any other host.
# Exact versions; run again after changing one, and commit what it writes.
set -euo pipefail

HTMX=2.0.11
UPLOT=1.6.32

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DEST="$ROOT/services/feedback/entrypoints/web/static/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

unpack() {  # unpack NAME VERSION -> $WORK/NAME/package
    mkdir -p "$WORK/$1"
    (cd "$WORK/$1" && npm pack --silent "$1@$2" >/dev/null && tar -xzf ./*.tgz)
}

unpack htmx.org "$HTMX"
unpack uplot "$UPLOT"

rm -rf "$DEST"
mkdir -p "$DEST/htmx" "$DEST/uplot"
cp "$WORK/htmx.org/package/dist/htmx.min.js" "$DEST/htmx/"
cp "$WORK/htmx.org/package/LICENSE" "$DEST/htmx/LICENSE"
cp "$WORK/uplot/package/dist/uPlot.iife.min.js" "$WORK/uplot/package/dist/uPlot.min.css" "$DEST/uplot/"
cp "$WORK/uplot/package/LICENSE" "$DEST/uplot/LICENSE"
printf 'htmx.org %s\nuplot %s\n' "$HTMX" "$UPLOT" > "$DEST/VERSIONS"
echo "vendored htmx.org $HTMX and uplot $UPLOT into ${DEST#"$ROOT"/}"
