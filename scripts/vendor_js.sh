#!/usr/bin/env bash
# Vendor the portal's JavaScript (served from static files: the portal works with no internet).
# Pinned here; to update, change the version, run this script, look at the charts, commit the result:
#   scripts/vendor_js.sh            # uses the npm registry the machine is configured for
set -euo pipefail

UPLOT_VERSION=1.6.32

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/portal/static/portal/vendor/uplot"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

(cd "$WORK" && npm pack --silent "uplot@$UPLOT_VERSION" >/dev/null && tar xzf "uplot-$UPLOT_VERSION.tgz")
mkdir -p "$DEST"
cp "$WORK/package/dist/uPlot.iife.min.js" "$WORK/package/dist/uPlot.min.css" "$WORK/package/LICENSE" "$DEST/"
echo "$UPLOT_VERSION" > "$DEST/VERSION"
(cd "$DEST" && sha256sum uPlot.iife.min.js uPlot.min.css LICENSE > SHA256SUMS)
echo "vendored uPlot $UPLOT_VERSION into ${DEST#"$ROOT"/}"
