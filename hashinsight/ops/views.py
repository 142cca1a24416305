"""Liveness, readiness and health probes, and the Prometheus endpoint. No login: probes and
scrapers call these; they reveal states, never data."""

import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from hashinsight.ops import metrics
from hashinsight.ops.beat import BEAT_TICK_KEY
from hashinsight.ops.tasks import WORKER_HEARTBEAT_KEY


def _check_db() -> dict:
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        return {"ok": True}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": type(exc).__name__}


def _check_redis() -> dict:
    try:
        cache.set("ops:ping", 1, timeout=10)
        return {"ok": cache.get("ops:ping") == 1}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": type(exc).__name__}


def _check_age(key: str) -> dict:
    try:
        stamp = cache.get(key)
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": type(exc).__name__}
    if stamp is None:
        return {"ok": False, "error": "never seen"}
    age = time.time() - float(stamp)
    return {"ok": age <= settings.HEALTH_HEARTBEAT_MAX_AGE_SEC, "age_sec": round(age, 1)}


def _check_migrations() -> dict:
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        return {"ok": not plan, "unapplied": [f"{m.app_label}.{m.name}" for m, _ in plan]}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": type(exc).__name__}


def _answer(checks: dict) -> JsonResponse:
    ok = all(c["ok"] for c in checks.values())
    return JsonResponse({"status": "ok" if ok else "fail", "checks": checks}, status=200 if ok else 503)


@require_GET
def health(request):
    return _answer({"database": _check_db()})


@require_GET
def health_deep(request):
    return _answer(
        {
            "database": _check_db(),
            "redis": _check_redis(),
            "worker": _check_age(WORKER_HEARTBEAT_KEY),
            "beat": _check_age(BEAT_TICK_KEY),
            "migrations": _check_migrations(),
        }
    )


@require_GET
def ready(request):
    return _answer({"database": _check_db(), "redis": _check_redis(), "migrations": _check_migrations()})


@require_GET
def alive(request):
    return JsonResponse({"status": "ok"})


@require_GET
def metrics_view(request):
    return HttpResponse(metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8")
