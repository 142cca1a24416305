"""Error pages: JSON with an error_code under /api/ and /hosting/api/, plain pages elsewhere; never a trace."""

import sys

from django.http import HttpResponse, JsonResponse

from core.api.exceptions import RETRY_AFTER_UNAVAILABLE_SEC, UNAVAILABLE, UNAVAILABLE_MESSAGE

# Every API prefix of the OpenAPI schema: an unmatched URL there (a path id of the wrong type) is JSON too.
API_PREFIXES = ("/api/", "/hosting/api/")


def _wants_json(request) -> bool:
    return request.path.startswith(API_PREFIXES)


def not_found(request, exception=None):
    if _wants_json(request):
        return JsonResponse({"success": False, "error_code": "NOT_FOUND", "error": "not found"}, status=404)
    return HttpResponse("<h1>Not found</h1>", status=404)


def server_error(request):
    # Django calls this inside its `except` for an exception no view handled: one raised in a
    # middleware (the session or the signed-in user read while PostgreSQL restarts) lands here, not in
    # the API's exception handler. A backing service that is down answers as there: 503 + Retry-After.
    if isinstance(sys.exception(), UNAVAILABLE):
        headers = {"Retry-After": str(RETRY_AFTER_UNAVAILABLE_SEC)}
        if _wants_json(request):
            body = {"success": False, "error_code": "SERVICE_UNAVAILABLE", "error": UNAVAILABLE_MESSAGE}
            return JsonResponse(body, status=503, headers=headers)
        return HttpResponse(f"<h1>Service unavailable</h1><p>{UNAVAILABLE_MESSAGE}.</p>", status=503, headers=headers)
    if _wants_json(request):
        return JsonResponse({"success": False, "error_code": "INTERNAL_ERROR", "error": "internal error"}, status=500)
    return HttpResponse("<h1>Server error</h1><p>The error was logged with its request id.</p>", status=500)
