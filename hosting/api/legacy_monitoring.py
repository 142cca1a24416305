"""The original event-monitoring page's routes (SPEC §9, §11; docs/COMPATIBILITY.md "/hosting/api (operator)"):
deprecated, never removed, answered in the original's keys over this product's alerts
(hosting.selectors.alerts, hosting.services.alerts). An incident is an alert.

    GET  /hosting/api/monitoring/overview
    POST /hosting/api/monitoring/incidents          {title, description, severity, category, site_id}
    GET  /hosting/api/monitoring/incidents/<id>     PUT …/<id> {status}

Words: the original's incident status `open` / `investigating` / `resolved` is this product's alert
state `firing` / `acknowledged` / `resolved`; its severity `low` / `medium` / `high` is `info` /
`warning` / `critical`. Operators only (customers 403), in their scope: another site's incident and
a missing one answer the same 403 FORBIDDEN. `site_id` is the original's integer id (the site's
`legacy_id` alias), its pk or its code; an incident needs a site here (the original's "global"
incidents are not carried: a site-less alert has no one to see it)."""

import datetime as dt

from django.db.models import Avg, Count, F, Q
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from hosting.api.common import DEPRECATED, ERRORS, WRITE_ERRORS, ReadAllWriteOperators, valid
from hosting.api.legacy import LegacyMonitoringIncidentsApi
from hosting.models import AlertSeverity, AlertSource, AlertState
from hosting.selectors.alerts import alert_get, alerts_for
from hosting.services import alerts as service
from telemetry import selectors as telemetry
from telemetry.legacy_shapes import legacy_site_get, utc_iso
from tenants import scoping
from tenants.permissions import IsOperator

ORIGINAL_STATUS = {AlertState.FIRING: "open", AlertState.ACKNOWLEDGED: "investigating", AlertState.RESOLVED: "resolved"}
SEVERITIES = {
    **{s: s for s in AlertSeverity.values},
    "low": AlertSeverity.INFO,
    "medium": AlertSeverity.WARNING,
    "high": AlertSeverity.CRITICAL,
}
# PUT {status}: the original's words (and this product's) -> the service that moves the alert there
MOVES = {
    "investigating": service.alert_acknowledge,
    "acknowledged": service.alert_acknowledge,
    "resolved": service.alert_resolve,
    "closed": service.alert_resolve,
}
NEW_API = "Use /api/v1/hosting/alerts."


def _description(alert) -> str:
    details = alert.details or {}
    return str(details.get("description") or details.get("message") or "")


def _duration(alert) -> str | None:
    if alert.resolved_at is None:
        return None
    minutes = int((alert.resolved_at - alert.fired_at).total_seconds() // 60)
    return f"{minutes // 60}h {minutes % 60}m" if minutes >= 60 else f"{minutes}m"


def incident_dict(alert) -> dict:
    """One alert in the original incident's keys, beside this product's."""
    return {
        "id": alert.pk,
        "title": alert.title,
        "description": _description(alert),
        "severity": alert.severity,
        "status": ORIGINAL_STATUS[alert.state],
        "state": alert.state,
        "category": (alert.details or {}).get("category") or alert.kind,
        "kind": alert.kind,
        "source": alert.source,
        "site_id": alert.site.code,
        "site_name": alert.site.name,
        "miner_id": alert.miner.miner_id if alert.miner_id else None,
        "created_at": utc_iso(alert.fired_at),
        "first_response_at": utc_iso(alert.acknowledged_at),
        "resolved_at": utc_iso(alert.resolved_at),
        "duration": _duration(alert),
    }


class MonitoringView(APIView):
    permission_classes = [IsOperator]


@extend_schema(deprecated=True, tags=["legacy"])
class LegacyMonitoringOverviewApi(MonitoringView):
    """GET /hosting/api/monitoring/overview — {success, stats, metrics, alerts} (the page's cards)."""

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        description=DEPRECATED
        + "stats.active_alerts (firing or acknowledged), total_incidents (all alerts), avg_response_time (minutes "
        "from firing to acknowledged, alerts of the last 30 days), uptime_percentage (sites whose collectors "
        "upload); `metrics` (the original's random host figures) are null; `alerts` the 5 newest open alerts of "
        "the last 24 h (`created_at` HH:MM UTC). " + NEW_API,
    )
    def get(self, request):
        now = timezone.now()
        qs = alerts_for(request.user)
        counts = qs.aggregate(
            active=Count("pk", filter=~Q(state=AlertState.RESOLVED)),
            total=Count("pk"),
            response=Avg(
                F("acknowledged_at") - F("fired_at"),
                filter=Q(fired_at__gte=now - dt.timedelta(days=30), acknowledged_at__isnull=False),
            ),
        )
        uploads = telemetry.site_uploads(request.user)
        last = uploads[0] if uploads is not None else {}
        sites = list(scoping.sites_for(request.user).values_list("pk", flat=True))
        fresh = telemetry.stale_cutoff(now)
        online = sum(1 for pk in sites if last.get(pk) is not None and last[pk] >= fresh)
        recent = (
            qs.exclude(state=AlertState.RESOLVED)
            .filter(fired_at__gte=now - dt.timedelta(hours=24))
            .select_related("site")
            .order_by("-fired_at", "-id")[:5]
        )
        alerts = []
        for a in recent:
            text = _description(a)
            alerts.append(
                {
                    "id": a.pk,
                    "title": a.title,
                    "description": text[:100] + "..." if len(text) > 100 else text,
                    "severity": a.severity,
                    "site_name": a.site.name,
                    "created_at": a.fired_at.astimezone(dt.UTC).strftime("%H:%M"),
                }
            )
        response = counts["response"]
        stats = {
            "active_alerts": counts["active"],
            "total_incidents": counts["total"],
            "avg_response_time": round(response.total_seconds() / 60) if response else 0,
            "uptime_percentage": round(100 * online / len(sites), 1) if sites else 100.0,
        }
        metrics = {"cpu_usage": None, "memory_usage": None, "network_io": None, "error_rate": None}
        return Response({"success": True, "stats": stats, "metrics": metrics, "alerts": alerts})


class IncidentCreateIn(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=20_000)
    severity = serializers.ChoiceField(choices=list(SEVERITIES), default="medium")
    category = serializers.CharField(required=False, allow_blank=True, default="other", max_length=64)
    site_id = serializers.CharField(max_length=64)
    miner_id = serializers.CharField(required=False, max_length=128)


class LegacyMonitoringIncidentsRaiseApi(LegacyMonitoringIncidentsApi):
    """GET (hosting/api/legacy.py) and POST /hosting/api/monitoring/incidents — raise an operator alert."""

    permission_classes = [ReadAllWriteOperators]

    @extend_schema(
        deprecated=True,
        tags=["legacy"],
        request=IncidentCreateIn,
        responses={201: OpenApiTypes.OBJECT, **WRITE_ERRORS},
        description=DEPRECATED + "Raises an operator alert (kind `incident`); 201 {success, message, incident_id}. "
        "A live alert with the same title at the site answers 200 with its id. " + NEW_API,
    )
    def post(self, request):
        body = request.data if isinstance(request.data, dict) else {}
        if body.get("site_id") not in (None, ""):  # scope first: another site says nothing about the body
            legacy_site_get(request.user, str(body["site_id"]))
        data = valid(IncidentCreateIn, body)
        site = legacy_site_get(request.user, data["site_id"])
        miner = telemetry.miner_get(request.user, data["miner_id"], site_code=site.code) if "miner_id" in data else None
        alert = service.alert_raise(
            actor=Actor.user(request.user),
            user=request.user,
            site=site,
            miner=miner,
            kind="incident",
            title=data["title"],
            severity=SEVERITIES[data["severity"]],
            source=AlertSource.OPERATOR,
            details={"description": data["description"], "category": data["category"]},
            dedupe_key=f"incident:{site.pk}:{miner.pk if miner else '-'}:{data['title']}",
        )
        code = status.HTTP_201_CREATED if alert.raised else status.HTTP_200_OK
        message = "incident created" if alert.raised else "an open incident with this title exists"
        return Response({"success": True, "message": message, "incident_id": alert.pk}, status=code)


class IncidentUpdateIn(serializers.Serializer):
    status = serializers.ChoiceField(choices=list(MOVES))
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    resolution = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


@extend_schema(deprecated=True, tags=["legacy"])
class LegacyMonitoringIncidentApi(MonitoringView):
    """GET/PUT /hosting/api/monitoring/incidents/<id> — one alert as an incident; PUT moves it."""

    @extend_schema(
        operation_id="legacy_hosting_monitoring_incident",
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        description=DEPRECATED + "{success, incident}: the alert in the original's keys. " + NEW_API,
    )
    def get(self, request, incident_id: int):
        return Response({"success": True, "incident": incident_dict(alert_get(request.user, incident_id))})

    @extend_schema(
        request=IncidentUpdateIn,
        responses={200: OpenApiTypes.OBJECT, **WRITE_ERRORS},
        description=DEPRECATED + "{status}: investigating → acknowledge, resolved (or closed) → resolve; "
        "the other fields of the original's form are not carried (an alert's text is what raised it). "
        "409 INVALID_TRANSITION when the alert cannot move there (already there, or resolved). " + NEW_API,
    )
    def put(self, request, incident_id: int):
        alert = alert_get(request.user, incident_id)
        data = valid(IncidentUpdateIn, request.data)
        MOVES[data["status"]](
            actor=Actor.user(request.user),
            user=request.user,
            alert=alert,
            reason=data["reason"] or data["resolution"],
        )
        return Response({"success": True, "message": f"incident {data['status']}", "incident_id": alert.pk})
