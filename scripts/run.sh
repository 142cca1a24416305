#!/usr/bin/env bash
# Runs web (gunicorn), Celery worker and Celery beat in the foreground; Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-$PWD/var/prometheus}
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
PORT=${PORT:-8000}
cat <<MSG
HashInsight Cloud is starting:
  NOC console (admin)  http://127.0.0.1:${PORT}/admin/
  Login                http://127.0.0.1:${PORT}/accounts/login/
  API docs (OpenAPI)   http://127.0.0.1:${PORT}/api/docs/
  Health               http://127.0.0.1:${PORT}/health/deep
  Metrics              http://127.0.0.1:${PORT}/metrics
Demo users and collector tokens were printed by seed_demo on first run
(re-create them with: .venv/bin/python manage.py seed_demo --reset).
Ctrl-C stops web, worker and beat.
MSG
exec .venv/bin/honcho -f Procfile start
