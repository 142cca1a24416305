#!/usr/bin/env bash
# Runs web (gunicorn), Celery worker, Celery beat and the demo collector simulator in the
# foreground; Ctrl-C stops them all. SIMULATOR=0 leaves the simulator out.
set -euo pipefail
cd "$(dirname "$0")/.."
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-$PWD/var/prometheus}
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
# honcho gives web the PORT of .env when it has one (else this environment's), so print that one.
ENV_PORT=$(if [ -f .env ]; then sed -n 's/^PORT=\([0-9][0-9]*\).*/\1/p' .env | tail -n 1; fi)
export PORT=${ENV_PORT:-${PORT:-8000}}
# honcho hands each later process type PORT+100, +200…: the simulator is told web's URL instead.
export SIMULATOR_URL=${SIMULATOR_URL:-http://127.0.0.1:${PORT}}
PROCESSES="web worker beat simulator"
SIMULATED="  Simulated collectors upload telemetry of SITE-ACC and SITE-BRV (${SIMULATOR_MINERS:-300} miners each,
  raw every ${SIMULATOR_INTERVAL:-60} s, latest in between) to ${SIMULATOR_URL}; SIMULATOR=0 turns this off."
if [ "${SIMULATOR:-1}" = "0" ]; then
  PROCESSES="web worker beat"
  SIMULATED="  No simulated telemetry (SIMULATOR=0)."
fi
cat <<MSG
HashInsight Cloud is starting:
  NOC console (admin)  http://127.0.0.1:${PORT}/admin/
  Login                http://127.0.0.1:${PORT}/accounts/login/
  API docs (OpenAPI)   http://127.0.0.1:${PORT}/api/docs/
  Health               http://127.0.0.1:${PORT}/health/deep
  Metrics              http://127.0.0.1:${PORT}/metrics
${SIMULATED}
Demo users and collector tokens were printed by seed_demo on first run (a new token:
.venv/bin/python manage.py collector_token_create --site SITE-ACC; a password: manage.py changepassword <user>).
Ctrl-C stops ${PROCESSES// /, }.
MSG
# shellcheck disable=SC2086
exec .venv/bin/honcho -f Procfile start $PROCESSES
