#!/usr/bin/env bash
# Runs the single box in the foreground under supervisord (deploy/supervisor/hashinsight.conf):
# nginx on HOST:PORT in front of gunicorn (on 127.0.0.1:APP_PORT), the Celery worker and beat, and
# the demo collector simulator. A process that dies is restarted (logged, with back-off) and the
# others keep running; Ctrl-C stops them all. SIMULATOR=0 leaves the simulator out.
set -euo pipefail
cd "$(dirname "$0")/.."
# .env's values win over this environment's (as honcho did, whose parser reads it).
if [ -f .env ]; then
  eval "$(.venv/bin/python -c 'import shlex; from honcho.environ import parse
for k, v in parse(open(".env").read()).items(): print(f"export {k}={shlex.quote(v)}")')"
fi
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  echo "make run puts nginx in front of gunicorn and it is not installed: run \`make tools\` (or apt-get install nginx)" >&2
  exit 1
fi
export PORT=${PORT:-8000}
export APP_PORT=${APP_PORT:-$((PORT + 1))}
export HI_RUN_DIR=${HI_RUN_DIR:-$PWD/var/run}
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-$PWD/var/prometheus}
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR" "$HI_RUN_DIR"
# The simulator goes through nginx, as a real collector would.
export SIMULATOR_URL=${SIMULATOR_URL:-http://127.0.0.1:${PORT}}
export SIMULATOR_AUTOSTART=true
PROCESSES="nginx, web, worker, beat, simulator"
SIMULATED="  Simulated collectors upload telemetry of SITE-ACC and SITE-BRV (${SIMULATOR_MINERS:-300} miners each,
  raw every ${SIMULATOR_INTERVAL:-60} s, latest in between) to ${SIMULATOR_URL}; SIMULATOR=0 turns this off."
if [ "${SIMULATOR:-1}" = "0" ]; then
  SIMULATOR_AUTOSTART=false
  PROCESSES="nginx, web, worker, beat"
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
nginx on port ${PORT} buffers every request for gunicorn (port ${APP_PORT}); supervisord restarts any
process that dies (HI_RUN_DIR=${HI_RUN_DIR} .venv/bin/supervisorctl -c deploy/supervisor/hashinsight.conf status).
Ctrl-C stops ${PROCESSES}.
MSG
exec .venv/bin/supervisord -c deploy/supervisor/hashinsight.conf
