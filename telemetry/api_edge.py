"""Collector-facing telemetry uploads (SPEC §4.1, §5; COLLECTOR_PROTOCOL.md §2).

The collector treats anything but 200 {"success": true} as "spool and re-send forever", so an
upload the cloud has taken answers 200 even when records were rejected; only whole-request
failures (401, 403, 400, 413, 429) answer otherwise. An encrypted envelope that cannot be opened
yet is held and answered 200 {"success": true, "quarantined": true} (telemetry.quarantine). Beside this
project's receipt keys each path answers the original application's keys (telemetry.legacy_shapes).
"""

import time

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.wire import read_body
from telemetry import legacy_shapes as shapes
from telemetry import metrics
from telemetry.models import QuarantinedBatch
from telemetry.services import telemetry_ingest_batch
from telemetry.upload_schema import UPLOAD_REQUEST
from tenants.collector_auth import CollectorTokenAuthentication, IsCollector
from tenants.collector_throttle import CollectorUploadThrottle

_RESULT = inline_serializer(
    "IngestResult",
    {
        "success": serializers.BooleanField(),
        "received": serializers.IntegerField(),
        "accepted": serializers.IntegerField(),
        "rejected": serializers.IntegerField(),
        "duplicates": serializers.IntegerField(),
        "endpoint": serializers.ChoiceField(choices=["legacy", "v1"]),
        "batch_id": serializers.IntegerField(required=False, help_text="the receipt; absent when quarantined"),
        "quarantined": serializers.BooleanField(
            required=False, help_text="true: an encrypted envelope held until its payload key is registered"
        ),
        "quarantine_id": serializers.IntegerField(required=False),
        "error_code": serializers.CharField(required=False, help_text="why it was held: PAYLOAD_KEY_MISSING, …"),
        "message": serializers.CharField(required=False),
        "errors": inline_serializer(
            "IngestReason",
            {
                "index": serializers.IntegerField(),
                "miner_id": serializers.CharField(allow_null=True),
                "error_code": serializers.CharField(),
                "field": serializers.CharField(),
                "message": serializers.CharField(),
            },
            many=True,
        ),
        # the original application's keys (docs/COMPATIBILITY.md)
        "inserted": serializers.IntegerField(required=False, help_text="legacy path: miners seen for the first time"),
        "updated": serializers.IntegerField(required=False, help_text="legacy path: the other stored records"),
        "data": serializers.DictField(
            required=False, help_text="legacy path: processed, inserted, updated, online, offline, processing_time_ms"
        ),
        "processed": serializers.IntegerField(required=False, help_text="v1 paths: records stored"),
        "received_at": serializers.CharField(required=False, help_text="v1 paths: naive UTC ISO-8601 + Z"),
        "source": serializers.CharField(required=False, help_text="v1 paths: legacy (a bare list) or v1"),
        "site_id": serializers.IntegerField(required=False, help_text="v1 paths: the original's integer site id"),
        "zone_id": serializers.CharField(required=False, allow_null=True),
        "device_id": serializers.CharField(required=False, allow_null=True),
        "warnings": serializers.ListField(child=serializers.CharField(), required=False),
    },
)
_HEADERS = [
    OpenApiParameter(
        "X-Collector-Key", str, OpenApiParameter.HEADER, description="collector token (or Authorization: Bearer)"
    ),
    OpenApiParameter(
        "X-Site-ID", str, OpenApiParameter.HEADER, description="the token's site code or one of its aliases"
    ),
    OpenApiParameter("X-Device-ID", str, OpenApiParameter.HEADER, required=False),
    OpenApiParameter("X-Zone-ID", str, OpenApiParameter.HEADER, required=False, description='"" means no zone'),
    # Recorded with the batch as sent (raw or latest from the collector), never a reason to refuse an
    # upload (the collector would spool it forever): no enum (issue 18 `make fuzz`: an empty value was
    # "schema-violating, accepted").
    OpenApiParameter(
        "X-Upload-Mode", str, OpenApiParameter.HEADER, required=False, description="raw or latest; recorded as sent"
    ),
]


class _TelemetryUploadApi(APIView):
    authentication_classes = [CollectorTokenAuthentication]
    permission_classes = [IsCollector]
    throttle_classes = [CollectorUploadThrottle]
    endpoint = ""

    def initial(self, request, *args, **kwargs):
        self._started = time.perf_counter()
        super().initial(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        # Every answer counts, 401/403 included (they are raised before post() runs).
        started = getattr(self, "_started", None) or time.perf_counter()
        metrics.request_observe(
            endpoint=self.endpoint, status=response.status_code, seconds=time.perf_counter() - started
        )
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(
        request=UPLOAD_REQUEST,
        parameters=_HEADERS,
        responses={200: _RESULT},
    )
    def post(self, request):
        body = read_body(request._request, max_bytes=settings.TELEMETRY_MAX_BODY_BYTES)
        batch = telemetry_ingest_batch(
            principal=request.user,
            body=body,
            endpoint=self.endpoint,
            mode=request.META.get("HTTP_X_UPLOAD_MODE", "").strip(),
            zone_code=request.META.get("HTTP_X_ZONE_ID", "").strip(),
        )
        if isinstance(batch, QuarantinedBatch):
            # Held, not lost: 200 + success so the collector does not spool it (telemetry.quarantine).
            return Response(
                {
                    "success": True,
                    "quarantined": True,
                    "received": 0,
                    "accepted": 0,
                    "rejected": 0,
                    "duplicates": 0,
                    "endpoint": self.endpoint,
                    "quarantine_id": batch.pk,
                    "error_code": batch.reason,
                    "message": batch.detail,
                    "errors": [],
                }
            )
        zone_code = request.META.get("HTTP_X_ZONE_ID", "").strip()
        return Response(
            {
                "success": True,
                "received": batch.record_count,
                "accepted": batch.accepted,
                "rejected": batch.rejected,
                "duplicates": batch.duplicates,
                "endpoint": self.endpoint,
                "batch_id": batch.pk,
                "errors": batch.first_reasons,
                **self.original(batch, request.user, zone_code),
            }
        )

    @staticmethod
    def original(batch, principal, zone_code: str) -> dict:
        return {}


class TelemetryUploadLegacyApi(_TelemetryUploadApi):
    """POST /api/collector/upload (and its alias /api/collector/telemetry) — deprecated, kept:
    gzip JSON list of records (an envelope is accepted too)."""

    endpoint = "legacy"

    @staticmethod
    def original(batch, principal, zone_code: str) -> dict:
        return shapes.upload_answer(batch)


class TelemetryBatchApi(_TelemetryUploadApi):
    """POST /api/edge/v1/telemetry/batch (and the original's /ingest) — telemetry_envelope.v1, or a
    bare list (auto mode)."""

    endpoint = "v1"

    @staticmethod
    def original(batch, principal, zone_code: str) -> dict:
        return shapes.batch_answer(batch, site=principal.site, zone_code=zone_code, device_id=principal.device_id)
