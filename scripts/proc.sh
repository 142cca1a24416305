#!/usr/bin/env bash
# Runs one process type of the Procfile (web, worker, beat, simulator, proxy) in the foreground:
# what supervisord (deploy/supervisor/hashinsight.conf) and the systemd units (deploy/systemd/)
# start, so the Procfile stays the one list of commands.
set -euo pipefail
cd "$(dirname "$0")/.."
line=$(sed -n "s/^$1: //p" Procfile)
[ -n "$line" ] || { echo "proc.sh: no '$1' in Procfile" >&2; exit 2; }
exec bash -c "$line"
