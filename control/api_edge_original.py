"""The original application's /api/edge/v1 edge routes this project had not routed: register,
safety-event batches, and the legacy adapter's /api/collector/health (docs/COMPATIBILITY.md,
"/api/collector and /api/edge"). Collector token auth, like every collector route."""

import datetime as dt

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from control.services.edge import edge_register, safety_events_record
from core.errors import InvalidParameter
from core.wire import MalformedBody, decode_body, read_body
from telemetry.legacy_shapes import legacy_site_id
from tenants.collector_auth import CollectorTokenAuthentication, IsCollector
from tenants.collector_throttle import CollectorAckThrottle, CollectorPollThrottle

# The original's hints (control_plane_api.edge_register); the collector polls at its own pace.
POLLING_HINTS = {"interval_seconds": 30, "long_poll_timeout": 60}
DEPRECATION_NOTICE = "Deprecated original-application path; kept, never removed (docs/COMPATIBILITY.md)."


def iso_z(ts: dt.datetime) -> str:
    """The original's `datetime.utcnow().isoformat() + 'Z'`."""
    return ts.astimezone(dt.UTC).replace(tzinfo=None).isoformat() + "Z"


def _json_object(request) -> dict:
    cap = settings.TELEMETRY_MAX_BODY_BYTES
    payload = decode_body(read_body(request, max_bytes=cap), max_decompressed=settings.TELEMETRY_MAX_DECOMPRESSED_BYTES)
    if not isinstance(payload, dict):
        raise MalformedBody("the body must be a JSON object")
    return payload


class _EdgeApi(APIView):
    authentication_classes = [CollectorTokenAuthentication]
    permission_classes = [IsCollector]


class EdgeRegisterApi(_EdgeApi):
    """POST /api/edge/v1/register — an edge announces itself {edge_id, site_id, zone_id[, version]}."""

    throttle_classes = [CollectorPollThrottle]

    @extend_schema(
        request=inline_serializer(
            "EdgeRegisterIn",
            {
                "edge_id": serializers.CharField(),
                "site_id": serializers.CharField(help_text="the token's site: its code or an alias"),
                "zone_id": serializers.CharField(required=False),
                "version": serializers.CharField(required=False),
            },
        ),
        responses={
            200: inline_serializer(
                "EdgeRegistered",
                {
                    "registered": serializers.BooleanField(),
                    "server_time": serializers.CharField(),
                    "polling_hints": serializers.DictField(),
                },
            ),
            400: OpenApiResponse(description="INVALID_PARAMETER: edge_id or site_id missing"),
            401: OpenApiResponse(description="UNAUTHENTICATED / INVALID_TOKEN"),
            403: OpenApiResponse(description="SITE_MISMATCH: site_id is not a name of the token's site"),
        },
        description="The original answered 403 for a device it did not know; here the collector token is "
        "what makes an edge known, so an unknown one gets 401 before this runs.",
    )
    def post(self, request):
        body = _json_object(request)
        site_id = str(body.get("site_id") or "").strip()
        if not site_id:
            raise InvalidParameter("edge_id and site_id required", field="site_id")
        request.user.site_check(site_id)
        edge_register(
            principal=request.user,
            edge_id=str(body.get("edge_id") or ""),
            zone_id=str(body.get("zone_id") or ""),
            version=str(body.get("version") or ""),
        )
        return Response({"registered": True, "server_time": iso_z(timezone.now()), "polling_hints": POLLING_HINTS})


class SafetyEventsBatchApi(_EdgeApi):
    """POST /api/edge/v1/events/safety/batch — what the edge's local safety override did."""

    throttle_classes = [CollectorAckThrottle]

    @extend_schema(
        request=inline_serializer(
            "SafetyEventsIn",
            {
                "events": serializers.ListField(
                    # any item: one that is no event object is a counted failure in errors[] (207), as a bad
                    # record of an upload is, so one bad event never refuses the batch (issue 18 `make fuzz`)
                    child=serializers.JSONField(),
                    min_length=1,
                    max_length=1000,
                    help_text="objects of miner_id, action, reason, temp_max, ts, snapshot_json; "
                    "anything else is counted in `failed` and named in errors[]",
                )
            },
        ),
        responses={
            200: inline_serializer(
                "SafetyEventsAnswer",
                {
                    "processed": serializers.IntegerField(),
                    "failed": serializers.IntegerField(),
                    "received_at": serializers.CharField(),
                    "device_id": serializers.CharField(),
                    "site_id": serializers.IntegerField(),
                    "errors": serializers.ListField(child=serializers.DictField(), required=False),
                },
            ),
            207: OpenApiResponse(description="some events refused (action, reason or ts missing/unreadable): errors[]"),
            400: OpenApiResponse(description="INVALID_PARAMETER: no events, or more than 1000"),
        },
    )
    def post(self, request):
        body = _json_object(request)
        result = safety_events_record(principal=request.user, events=body.get("events"))
        answer = {
            "processed": result.processed,
            "failed": len(result.errors),
            "received_at": iso_z(result.received_at),
            "device_id": request.user.device_id,
            "site_id": legacy_site_id(request.user.site),
        }
        if result.errors:
            answer["errors"] = result.errors
        return Response(answer, status=207 if result.errors else 200)


class CollectorHealthApi(APIView):
    """GET /api/collector/health — the original legacy adapter's liveness answer (no data, no auth)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        deprecated=True,
        responses=inline_serializer(
            "CollectorHealth",
            {
                "status": serializers.CharField(),
                "timestamp": serializers.CharField(),
                "_deprecated": serializers.BooleanField(),
                "_deprecation_notice": serializers.CharField(),
            },
        ),
    )
    def get(self, request):
        return Response(
            {
                "status": "ok",
                "timestamp": iso_z(timezone.now()),
                "_deprecated": True,
                "_deprecation_notice": DEPRECATION_NOTICE,
            }
        )
