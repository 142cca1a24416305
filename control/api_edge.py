"""Collector-facing command endpoints (SPEC §4.1, §6.4; COLLECTOR_PROTOCOL §3).

Poll: v1 answers 204 when there is nothing, else 200 {"commands": [...]} with the original's
counters beside it; legacy answers 200 {"success": true, "commands": [...], "count"}. Every ACK
the cloud recorded answers 200 — replays, late ACKs and unknown ids included — because the
collector never re-sends an ACK it lost; the body adds the original's keys (control.legacy_shapes).
Legacy paths are deprecated, never removed.
"""

from django.conf import settings
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from control import legacy_shapes
from control.services.ack import command_ack
from control.services.poll import command_poll_lease
from core.wire import MalformedBody, decode_body, read_body
from tenants.collector_auth import CollectorTokenAuthentication, IsCollector
from tenants.collector_throttle import CollectorAckThrottle, CollectorPollThrottle

_ACK_OK = {"success": True}


def _poll_limit(request) -> int:
    try:
        limit = int(request.query_params.get("limit", settings.COMMAND_POLL_LIMIT))
    except ValueError:
        limit = settings.COMMAND_POLL_LIMIT
    return max(1, min(limit, settings.COMMAND_POLL_MAX))


def read_ack_body(request) -> dict:
    """The raw body, parsed here: DRF's parsers would refuse the edge's content types with 415.
    Unknown fields are kept (stored as evidence) and ignored."""
    cap = settings.COMMAND_ACK_MAX_BYTES
    payload = decode_body(read_body(request, max_bytes=cap), max_decompressed=cap)
    if not isinstance(payload, dict):
        raise MalformedBody("ACK body must be a JSON object")
    return payload


_CommandList = inline_serializer(
    "EdgeCommandList",
    {
        "commands": serializers.ListField(child=serializers.DictField()),
        "server_time": serializers.CharField(),
        **{
            n: serializers.IntegerField()
            for n in (
                "dispatched_count",
                "miner_command_count",
                "remote_command_count",
                "rate_limited_count",
                "lease_duration_sec",
            )
        },
    },
)
_LegacyCommandList = inline_serializer(
    "LegacyEdgeCommandList",
    {
        "success": serializers.BooleanField(),
        "commands": serializers.ListField(child=serializers.DictField()),
        "count": serializers.IntegerField(),
    },
)
_AckAnswer = inline_serializer(
    "EdgeAckAnswer",
    {
        "success": serializers.BooleanField(),
        "acknowledged": serializers.BooleanField(required=False, help_text="v1 path"),
        "command_source": serializers.CharField(required=False, help_text="v1 path: always miner"),
        "command_id": serializers.CharField(required=False, help_text="v1 path: the wire id ACKed"),
        "replayed": serializers.BooleanField(required=False, help_text="v1 path"),
        "message": serializers.CharField(required=False, help_text="legacy result path"),
        "command_status": serializers.CharField(
            allow_null=True, required=False, help_text="the original's status name; null for an unknown id"
        ),
    },
)
_LIMIT = OpenApiParameter(
    "limit", int, description="Commands to lease at most (default COMMAND_POLL_LIMIT, capped at COMMAND_POLL_MAX)."
)


class _CollectorApi(APIView):
    authentication_classes = [CollectorTokenAuthentication]
    permission_classes = [IsCollector]


class CommandPollApi(_CollectorApi):
    """GET /api/edge/v1/commands/poll — lease this collector's ready commands."""

    throttle_classes = [CollectorPollThrottle]

    @extend_schema(
        parameters=[_LIMIT], responses={200: _CommandList, 204: OpenApiResponse(description="nothing to do")}
    )
    def get(self, request):
        commands = command_poll_lease(principal=request.user, limit=_poll_limit(request))
        if not commands:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response({"commands": commands, **legacy_shapes.poll_counts(commands)})


class LegacyCommandPendingApi(_CollectorApi):
    """GET /api/collector/commands/pending[/<site_id>] — deprecated legacy poll."""

    throttle_classes = [CollectorPollThrottle]

    @extend_schema(parameters=[_LIMIT], responses=_LegacyCommandList, deprecated=True)
    def get(self, request, site_id: str | None = None):
        if site_id is not None:
            request.user.site_check(site_id)
        commands = command_poll_lease(principal=request.user, limit=_poll_limit(request))
        return Response({"success": True, "commands": commands, "count": len(commands)})


@extend_schema_view(
    get=extend_schema(
        operation_id="collector_commands_pending_for_site",
        parameters=[_LIMIT],
        responses=_LegacyCommandList,
        deprecated=True,
    )
)
class LegacyCommandPendingSiteApi(LegacyCommandPendingApi):
    """GET /api/collector/commands/pending/<site_id> — the same poll, site named in the path."""


class CommandAckApi(_CollectorApi):
    """POST /api/edge/v1/commands/<command_id>/ack — the ACK of one command (v1 round)."""

    throttle_classes = [CollectorAckThrottle]

    endpoint = "v1"

    @extend_schema(request={"application/json": dict}, responses=_AckAnswer)
    def post(self, request, command_id: str):
        ack = command_ack(
            principal=request.user, wire_id=command_id, payload=read_ack_body(request), endpoint=self.endpoint
        )
        return Response(self.answer(ack))

    @staticmethod
    def answer(ack) -> dict:
        return {**_ACK_OK, **legacy_shapes.v1_ack(ack)}


class LegacyCommandResultApi(CommandAckApi):
    """POST /api/collector/commands/<command_id>/result — deprecated legacy ACK."""

    endpoint = "legacy"

    @extend_schema(request={"application/json": dict}, responses=_AckAnswer, deprecated=True)
    def post(self, request, command_id: str):
        return super().post(request, command_id)

    @staticmethod
    def answer(ack) -> dict:
        return {**_ACK_OK, **legacy_shapes.legacy_result(ack)}


class LegacyCommandAckApi(_CollectorApi):
    """POST /api/collector/commands/ack — deprecated legacy ACK with `command_id` (or `id`) in the body."""

    throttle_classes = [CollectorAckThrottle]

    @extend_schema(request={"application/json": dict}, responses=_AckAnswer, deprecated=True)
    def post(self, request):
        payload = read_ack_body(request)
        wire_id = payload.get("command_id", payload.get("id"))
        command_ack(
            principal=request.user, wire_id="" if wire_id is None else str(wire_id), payload=payload, endpoint="legacy"
        )
        return Response(_ACK_OK)
