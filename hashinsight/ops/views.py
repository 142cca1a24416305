"""Liveness, readiness and health probes, and the Prometheus endpoint. No login: probes and
scrapers call these; they reveal states, never data. /metrics takes a bearer token when
METRICS_TOKEN is set."""

import hmac

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.http import require_GET

from hashinsight.ops import metrics, probes


def _answer(names) -> JsonResponse:
    result = probes.run(names)
    return JsonResponse(result, status=200 if result["status"] == "ok" else 503)


@require_GET
def health(request):
    return _answer(probes.HEALTH)


@require_GET
def health_deep(request):
    return _answer(probes.DEEP)


@require_GET
def ready(request):
    return _answer(probes.READY)


@require_GET
def alive(request):
    # The process answers: nothing else is checked, so a database outage never restarts web pods.
    return JsonResponse({"status": "ok"})


@require_GET
def metrics_view(request):
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            response = JsonResponse(
                {"success": False, "error_code": "UNAUTHENTICATED", "error": "bearer token required"}, status=401
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    # Gauges read from the database (e.g. queue lag) are refreshed at scrape time, so they are
    # exact whichever process answers.
    for hook in settings.METRICS_SCRAPE_HOOKS:
        import_string(hook)()
    return HttpResponse(metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8")
