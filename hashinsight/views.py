"""Error pages: JSON with an error_code under /api/ and /hosting/api/, plain pages elsewhere; never a trace."""

from django.http import HttpResponse, JsonResponse

# Every API prefix of the OpenAPI schema: an unmatched URL there (a path id of the wrong type) is JSON too.
API_PREFIXES = ("/api/", "/hosting/api/")


def _wants_json(request) -> bool:
    return request.path.startswith(API_PREFIXES)


def not_found(request, exception=None):
    if _wants_json(request):
        return JsonResponse({"success": False, "error_code": "NOT_FOUND", "error": "not found"}, status=404)
    return HttpResponse("<h1>Not found</h1>", status=404)


def server_error(request):
    if _wants_json(request):
        return JsonResponse({"success": False, "error_code": "INTERNAL_ERROR", "error": "internal error"}, status=500)
    return HttpResponse("<h1>Server error</h1><p>The error was logged with its request id.</p>", status=500)
