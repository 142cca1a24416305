"""Per-collector request throttling (SPEC §4): counted per collector token, in the shared Redis
cache, so a limit holds across gunicorn workers and hosts. Over the limit the request is refused
before the view runs: 429 RATE_LIMITED with Retry-After (core.api.exceptions).

Three classes, one setting each (rates and why in docs/SECURITY.md): uploads, polls (and the
status self-check), ACKs. ACKs have their own, larger bucket: a refused ACK is lost for good (the
collector never re-sends one), so poll traffic must never be able to crowd an ACK out.

DRF's SimpleRateThrottle keeps a list of timestamps and writes it back (get, then set): two
workers answering the same token at once both read the old list and one increment is lost. Here
a fixed window is one Redis counter, incremented atomically (INCR), so every request counts.
"""

import math

import structlog
from django.conf import settings
from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

from tenants.collector_auth import CollectorPrincipal

logger = structlog.get_logger(__name__)


class _CollectorThrottle(SimpleRateThrottle):
    rate_setting = ""

    def get_rate(self):
        # Read on each request (not frozen at import like DRF's THROTTLE_RATES); "" switches it off.
        return getattr(settings, self.rate_setting) or None

    def get_cache_key(self, request, view):
        if not isinstance(request.user, CollectorPrincipal):
            return None  # people calling a shared view (GET /api/collector/status) are not collectors
        return f"throttle:{self.scope}:{request.user.token.pk}"

    def allow_request(self, request, view):
        key = self.get_cache_key(request, view) if self.rate else None
        if key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        self.retry_after = (window + 1) * self.duration - now
        key = f"{key}:{window}"
        try:
            count = self._count(key, timeout=math.ceil(self.retry_after) + 2)
        except RedisError:
            # The limit protects the cloud; it must not turn a Redis hiccup into lost uploads.
            logger.warning("collector_throttle.cache_unavailable", scope=self.scope)
            return True
        return count <= self.num_requests

    def _count(self, key: str, *, timeout: int) -> int:
        try:
            return self.cache.incr(key)
        except ValueError:  # first request of this window
            if self.cache.add(key, 1, timeout=timeout):
                return 1
            return self.cache.incr(key)  # another worker created it in between

    def wait(self):
        return self.retry_after


class CollectorUploadThrottle(_CollectorThrottle):
    """Telemetry uploads, legacy and v1: COLLECTOR_UPLOAD_RATE."""

    scope = "collector_upload"
    rate_setting = "COLLECTOR_UPLOAD_RATE"


class CollectorPollThrottle(_CollectorThrottle):
    """Command polls, legacy and v1, and GET /api/collector/status: COLLECTOR_POLL_RATE."""

    scope = "collector_poll"
    rate_setting = "COLLECTOR_POLL_RATE"


class CollectorAckThrottle(_CollectorThrottle):
    """Command ACKs, legacy and v1: COLLECTOR_ACK_RATE."""

    scope = "collector_ack"
    rate_setting = "COLLECTOR_ACK_RATE"
