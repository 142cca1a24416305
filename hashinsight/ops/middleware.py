import time

import structlog

from hashinsight.ops import metrics


class RequestIdHeaderMiddleware:
    """Echo the request id (bound by django-structlog) so a caller can quote it to support."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        if request_id:
            response["X-Request-ID"] = request_id
        return response


class MetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        # Label by route pattern, never by raw path: ids in paths would explode the series count.
        route = (match.route or match.view_name) if match else "unmatched"
        metrics.http_requests_total.labels(request.method, route, str(response.status_code)).inc()
        metrics.http_request_duration_seconds.labels(route).observe(time.perf_counter() - started)
        return response
