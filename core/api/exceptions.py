"""The one place where exceptions become HTTP answers; every error body has an error_code."""

import structlog
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent, TooManyFilesSent
from django.db import InterfaceError, OperationalError
from django.http import Http404
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions, status
from rest_framework.response import Response

from core.api.throttling import throttle_refund
from core.errors import DomainError

logger = structlog.get_logger(__name__)

_DRF_CODES = {
    exceptions.NotAuthenticated: "UNAUTHENTICATED",
    exceptions.AuthenticationFailed: "INVALID_CREDENTIALS",
    exceptions.PermissionDenied: "FORBIDDEN",
    exceptions.NotFound: "NOT_FOUND",
    exceptions.MethodNotAllowed: "METHOD_NOT_ALLOWED",
    exceptions.NotAcceptable: "NOT_ACCEPTABLE",
    exceptions.UnsupportedMediaType: "UNSUPPORTED_MEDIA_TYPE",
    exceptions.Throttled: "RATE_LIMITED",
    exceptions.ParseError: "MALFORMED_BODY",
    exceptions.ValidationError: "INVALID_PARAMETER",
}


# Django's own request limits (DATA_UPLOAD_MAX_NUMBER_FIELDS, DATA_UPLOAD_MAX_MEMORY_SIZE, …) raise
# while DRF parses a form body, inside the view: without this they would escape as 500s.
_REQUEST_LIMITS = (
    (RequestDataTooBig, 413, "PAYLOAD_TOO_LARGE"),
    (TooManyFieldsSent, 400, "TOO_MANY_FIELDS"),
    (TooManyFilesSent, 400, "TOO_MANY_FIELDS"),
    (SuspiciousOperation, 400, "BAD_REQUEST"),
)


# A dependency that is down (PostgreSQL restarting, Redis unreachable) is not the caller's fault: 503
# with Retry-After, which a collector keeps in its spool and sends again (COLLECTOR_PROTOCOL §2.4).
# Raised outside a DRF view (a middleware reading the session), hashinsight.views.server_error answers the same.
UNAVAILABLE = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)
RETRY_AFTER_UNAVAILABLE_SEC = 5
UNAVAILABLE_MESSAGE = "a backing service is unavailable, retry later"


def error_body(error_code: str, message, **extra) -> dict:
    return {"success": False, "error_code": error_code, "error": message, **extra}


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(error_body(exc.error_code, exc.message, **exc.extra), status=exc.status_code)
    for cls, status_code, error_code in _REQUEST_LIMITS:
        if isinstance(exc, cls):
            return Response(error_body(error_code, str(exc) or error_code), status=status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.APIException):
        code = getattr(exc, "error_code", None) or next(
            (c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "BAD_REQUEST"
        )
        headers = {}
        if auth_header := getattr(exc, "auth_header", None):  # NotAuthenticated / AuthenticationFailed
            headers["WWW-Authenticate"] = auth_header
        if wait := getattr(exc, "wait", None):  # Throttled
            headers["Retry-After"] = str(int(wait))
        detail = exc.detail
        extra = {"fields": detail} if isinstance(exc, exceptions.ValidationError) else {}
        message = "invalid parameters" if extra else str(detail)
        return Response(error_body(code, message, **extra), status=exc.status_code, headers=headers)
    if isinstance(exc, UNAVAILABLE):
        logger.warning("api.dependency_unavailable", error=type(exc).__name__, detail=str(exc)[:200])
        throttle_refund(context.get("request"))  # not the caller's fault: not counted against it
        return Response(
            error_body("SERVICE_UNAVAILABLE", UNAVAILABLE_MESSAGE),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE_SEC)},
        )
    # Anything else is a bug: log it with the request id, never show a trace to the client.
    logger.exception("api.unhandled_exception", view=type(context.get("view")).__name__)
    return Response(error_body("INTERNAL_ERROR", "internal error"), status=status.HTTP_500_INTERNAL_SERVER_ERROR)
