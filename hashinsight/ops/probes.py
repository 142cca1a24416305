"""The checks behind /health, /health/deep, /ready and `manage.py probe`. Each returns a dict
with `ok`; a failing one says why in `error` (a state, never data or a trace)."""

import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from hashinsight.ops.beat import BEAT_TICK_KEY
from hashinsight.ops.tasks import WORKER_HEARTBEAT_KEY


def check_database() -> dict:
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}


def check_redis() -> dict:
    try:
        cache.set("ops:ping", 1, timeout=10)
        return {"ok": cache.get("ops:ping") == 1}
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}


def _check_age(key: str) -> dict:
    try:
        stamp = cache.get(key)
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    if stamp is None:
        return {"ok": False, "error": "never seen"}
    age = time.time() - float(stamp)
    ok = age <= settings.HEALTH_HEARTBEAT_MAX_AGE_SEC
    return {"ok": ok, "age_sec": round(age, 1), **({} if ok else {"error": "stale"})}


def check_worker() -> dict:
    return _check_age(WORKER_HEARTBEAT_KEY)


def check_beat() -> dict:
    return _check_age(BEAT_TICK_KEY)


def check_migrations() -> dict:
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    unapplied = [f"{m.app_label}.{m.name}" for m, _ in plan]
    return {"ok": not unapplied, "unapplied": unapplied, **({"error": "unapplied migrations"} if unapplied else {})}


CHECKS = {
    "database": check_database,
    "redis": check_redis,
    "worker": check_worker,
    "beat": check_beat,
    "migrations": check_migrations,
}
HEALTH = ("database",)
READY = ("database", "redis", "migrations")
DEEP = ("database", "redis", "worker", "beat", "migrations")


def run(names) -> dict:
    """{"status": "ok"|"fail", "failing": [names], "checks": {name: result}}"""
    checks = {name: CHECKS[name]() for name in names}
    failing = [name for name, result in checks.items() if not result["ok"]]
    return {"status": "fail" if failing else "ok", "failing": failing, "checks": checks}
