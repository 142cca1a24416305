#!/usr/bin/env bash
# Start local PostgreSQL and Redis when they are installed but not running, then make sure the
# project's database exists. Idempotent; used by `make run`, `make test` and .ci/run.
set -euo pipefail

PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
DB_NAME=${DB_NAME:-hashinsight}

if ! pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start
  else
    echo "services: PostgreSQL is not running on $PGHOST:$PGPORT and is not installed here" >&2
    exit 1
  fi
  for _ in $(seq 1 30); do pg_isready -q -h "$PGHOST" -p "$PGPORT" && break; sleep 1; done
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  if command -v redis-server >/dev/null; then
    echo "services: starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5; done
  else
    echo "services: Redis is not running on 127.0.0.1:6379 and is not installed here" >&2
    exit 1
  fi
fi

if ! psql -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -tAc "SELECT 1 FROM pg_database WHERE datname='$DB_NAME'" postgres | grep -q 1; then
  echo "services: creating database $DB_NAME"
  createdb -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" "$DB_NAME"
fi
