#!/usr/bin/env bash
# nginx in front of gunicorn on one box (`proxy` in the Procfile): fills in
# deploy/nginx/single-box.conf.in and runs nginx in the foreground as the current user.
#   HOST:PORT   where nginx listens (what `make run` prints; default 127.0.0.1:8000)
#   APP_PORT    where gunicorn listens on loopback (default PORT+1)
#   NGINX_RUN_DIR   its pid, temp files and rendered config (default var/nginx)
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-8000}
APP_PORT=${APP_PORT:-$((PORT + 1))}
RUN_DIR=${NGINX_RUN_DIR:-$PWD/var/nginx}
mkdir -p "$RUN_DIR"
sed -e "s|@RUN_DIR@|$RUN_DIR|g" -e "s|@APP_PORT@|$APP_PORT|g" -e "s|@LISTEN@|${HOST:-127.0.0.1}:$PORT|g" \
  -e "s|@DEPLOY_DIR@|$PWD/deploy/nginx|g" deploy/nginx/single-box.conf.in >"$RUN_DIR/nginx.conf"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
exec "$NGINX" -p "$RUN_DIR" -e stderr -c "$RUN_DIR/nginx.conf"
