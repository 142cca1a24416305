"""The original application's /api/collector/* routes that need hosting's alerts
(docs/COMPATIBILITY.md, "/api/collector and /api/edge")."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from hosting.api.common import valid
from hosting.api.serializers import AlertOut
from hosting.models import AlertState
from hosting.selectors.alerts import alert_list, alerts_for
from telemetry.api_legacy import LegacyStatsApi
from telemetry.legacy_shapes import legacy_site_get, legacy_site_ids, utc_minute
from tenants.scoping import scope_for


class LegacyCollectorStatsApi(LegacyStatsApi):
    """GET /api/collector/stats — the original's fleet figures, `active_alerts` counted here."""

    def active_alerts(self, request) -> int | None:
        return alerts_for(request.user).exclude(state=AlertState.RESOLVED).count()


class AlertsIn(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=20)
    site_id = serializers.CharField(required=False, max_length=64, help_text="integer site id, code or alias")


def _original_alert(row: dict, alert, site_ids: dict, operator: bool) -> dict:
    details = alert.details if operator and isinstance(alert.details, dict) else {}
    return {
        **row,
        "site_id": site_ids.get(alert.site_id, alert.site_id),
        "alert_type": alert.kind,
        "level": alert.severity,
        "message": alert.title,
        "message_zh": alert.title,
        "value": details.get("value"),
        "threshold": details.get("threshold"),
        "triggered_at": utc_minute(alert.fired_at),
        "acknowledged": alert.state == AlertState.ACKNOWLEDGED,
    }


class LegacyCollectorAlertsApi(APIView):
    """GET /api/collector/alerts — open alerts, newest first, in the original's keys."""

    @extend_schema(
        deprecated=True,
        parameters=[AlertsIn],
        responses=OpenApiTypes.OBJECT,
        description="Open (not resolved) alerts you may see, newest first, `limit` (20): the original's keys "
        "(id, site_id as the integer id, miner_id, alert_type, level, message, message_zh, value, threshold, "
        "triggered_at `YYYY-MM-DD HH:MM` UTC, acknowledged) beside this project's alert keys. "
        "This project's list: GET /api/v1/hosting/alerts.",
    )
    def get(self, request):
        f = valid(AlertsIn, request.query_params)
        site = legacy_site_get(request.user, f["site_id"]) if "site_id" in f else None
        qs = alert_list(request.user, site=site).exclude(state=AlertState.RESOLVED).order_by("-fired_at", "-pk")
        alerts = list(qs[: f["limit"]])
        rows = AlertOut(alerts, many=True, context={"request": request}).data
        site_ids = legacy_site_ids({a.site_id for a in alerts})
        operator = scope_for(request.user).is_operator
        body = [_original_alert(dict(r), a, site_ids, operator) for r, a in zip(rows, alerts, strict=True)]
        return Response({"success": True, "alerts": body})
