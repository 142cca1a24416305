"""Per-collector request throttling (SPEC §4): counted per collector token, in the shared Redis
cache (core.api.throttling: one atomic counter per window, so a limit holds across gunicorn
workers and hosts). Over the limit the request is refused before the view runs: 429 RATE_LIMITED
with Retry-After (core.api.exceptions).

Three classes, one setting each (rates and why in docs/SECURITY.md): uploads, polls (and the
status self-check), ACKs. ACKs have their own, larger bucket: a refused ACK is lost for good (the
collector never re-sends one), so poll traffic must never be able to crowd an ACK out.
"""

from core.api.throttling import FixedWindowThrottle
from tenants.collector_auth import CollectorPrincipal


class _CollectorThrottle(FixedWindowThrottle):
    # A cache outage lets collectors through: it must not turn a Redis hiccup into lost uploads.
    unavailable_event = "collector_throttle.cache_unavailable"

    def get_cache_key(self, request, view):
        if not isinstance(request.user, CollectorPrincipal):
            return None  # people calling a shared view (GET /api/collector/status) are not collectors
        return f"throttle:{self.scope}:{request.user.token.pk}"


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
