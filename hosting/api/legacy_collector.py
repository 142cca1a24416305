"""The original application's /api/collector/* routes that need hosting's alerts."""

from hosting.models import AlertState
from hosting.selectors.alerts import alerts_for
from telemetry.api_legacy import LegacyStatsApi


class LegacyCollectorStatsApi(LegacyStatsApi):
    """GET /api/collector/stats — the original's fleet figures, `active_alerts` counted here."""

    def active_alerts(self, request) -> int | None:
        return alerts_for(request.user).exclude(state=AlertState.RESOLVED).count()
