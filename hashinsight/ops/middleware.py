import re
import time
import uuid

from hashinsight.ops import metrics, views

# What a proxy or a caller may hand us as a request id; anything else (huge, odd bytes) is
# replaced, so the id cannot be used to stuff the logs.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestIdHeaderMiddleware:
    """First in MIDDLEWARE. Keeps a well-formed incoming X-Request-ID or makes one; django-structlog
    (next, told to trust the header) binds it to every log line of the request, and the response
    echoes it so a caller can quote it to support."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else str(uuid.uuid4())
        request.META["HTTP_X_REQUEST_ID"] = request_id
        request.__dict__.pop("headers", None)  # HttpRequest.headers is a cached copy of META
        request.request_id = request_id
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class ProbeMiddleware:
    """Answers the probes before host validation (CommonMiddleware): Docker and Kubernetes dial
    the container's own address, which no ALLOWED_HOSTS entry names. Probes read no host and
    return no data, so skipping the check there opens nothing."""

    PROBES = {"/alive": views.alive, "/ready": views.ready, "/health": views.health, "/health/deep": views.health_deep}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        view = self.PROBES.get(request.path_info)
        if view is not None:
            return view(request)
        return self.get_response(request)


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
