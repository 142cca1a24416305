"""The original application's operator command routes (/api/collector/commands…, SPEC §11):
deprecated, never removed; the original's body and answer (control.legacy_shapes) around the same
services as the v1 views."""

from django.db.models import Count, Min
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from control import legacy_shapes
from control.api_admin import command_create_from_request
from control.api_fields import CommandTypeField
from control.api_serializers import (
    CreateIn,
    ReasonIn,
    command_or_403,
    valid,
)
from control.models import Command
from control.selectors import commands_for
from control.services import decisions
from telemetry.legacy_shapes import legacy_site_get
from tenants.permissions import IsOperator

# --- legacy (/api/collector/commands…, deprecated) -------------------------------------------------


class LegacyCreateIn(CreateIn):
    """The old app's body: `command` (or `action`) for command_type, `miner_ids` for miners."""

    command_type = CommandTypeField(required=False)
    command = CommandTypeField(required=False)
    action = CommandTypeField(required=False)
    miner_ids = serializers.ListField(
        child=serializers.CharField(max_length=128), required=False, allow_empty=False, min_length=1, max_length=5000
    )

    def validate(self, data):
        data["command_type"] = data.get("command_type") or data.pop("command", None) or data.pop("action", None)
        if not data["command_type"]:
            raise serializers.ValidationError({"command_type": "required (or command / action)"})
        if "miner_ids" in data:
            data["miners"] = data.pop("miner_ids")
        return super().validate(data)


def _legacy(body) -> dict:
    return {"success": True, **body} if isinstance(body, dict) else {"success": True, "data": body}


def _original_in(request) -> dict:
    """The original's body → LegacyCreateIn, its integer site id resolved to the site's code."""
    raw = request.data if isinstance(request.data, dict) else {}
    data = valid(LegacyCreateIn, legacy_shapes.original_body(raw))
    data["site_id"] = legacy_site_get(request.user, data["site_id"]).code
    return data


def _reload(pk: int) -> Command:
    return Command.objects.select_related("site", "miner").annotate(sent_at=Min("attempts__leased_at")).get(pk=pk)


@extend_schema(
    deprecated=True,
    request=LegacyCreateIn,
    responses=OpenApiTypes.OBJECT,
    description="The original's body: miner_id, site_id (integer id, code or alias), command_type "
    "(enable / disable / restart or this project's names), parameters, priority, ttl_minutes (default 30). "
    "200 {success, command: the original's command dict, command_id, message}; a dry run answers this "
    "project's preview.",
)
class LegacyCommandCreateApi(APIView):
    """POST /api/collector/commands — create one command, in the original's body and answer."""

    permission_classes = [IsOperator]

    def post(self, request):
        data = _original_in(request)
        body, code = command_create_from_request(request, data)
        if "id" not in body:  # a dry run (this project's addition): its preview as is
            return Response(_legacy(body), status=code)
        command = legacy_shapes.command_dicts([_reload(body["id"])])[0]
        message = "Command created successfully"
        return Response({"success": True, "command": command, "command_id": body["id"], "message": message})


@extend_schema(
    deprecated=True,
    request=LegacyCreateIn,
    responses=OpenApiTypes.OBJECT,
    description="The original's body (miner_ids, site_id, command_type, parameters, priority, ttl_minutes). "
    "200 {success, count, command_ids, message}, and this project's batch answer beside them "
    "(batch_id, approval_required, created, existing, skipped…).",
)
class LegacyCommandBatchApi(APIView):
    """POST /api/collector/commands/batch — one command per miner, in the original's body and answer."""

    permission_classes = [IsOperator]

    def post(self, request):
        data = _original_in(request)
        if "miner_id" in data:
            data["miners"] = [data.pop("miner_id")]
        body, code = command_create_from_request(request, data)
        if body.get("dry_run"):
            return Response(_legacy(body), status=code)
        ids = [c["id"] for c in body["created"] + body["existing"]]
        message = f"{len(ids)} commands created successfully"
        return Response(_legacy({"count": len(ids), "command_ids": ids, "message": message, **body}))


@extend_schema(deprecated=True, request=ReasonIn, responses=OpenApiTypes.OBJECT)
class LegacyCommandCancelApi(APIView):
    """DELETE /api/collector/commands/<id>[?reason=…] — cancel: {success, message, command_id, state}.
    A command already leased to a collector needs a reason (it may be executing)."""

    permission_classes = [IsOperator]

    def delete(self, request, pk):
        command = command_or_403(request, pk)
        reason = request.query_params.get("reason") or (
            request.data.get("reason", "") if isinstance(request.data, dict) else ""
        )
        result = decisions.command_cancel(
            actor=Actor.user(request.user), user=request.user, command=command, reason=reason
        )
        message = "Command cancelled successfully"
        return Response(_legacy({"message": message, "command_id": result.pk, "state": result.state}))


class HistoryIn(serializers.Serializer):
    """The original's history filters."""

    site_id = serializers.CharField(required=False, max_length=64)
    miner_id = serializers.CharField(required=False, max_length=128)
    status = serializers.ChoiceField(choices=list(legacy_shapes.ORIGINAL_STATES), required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=50)


@extend_schema(
    deprecated=True,
    parameters=[HistoryIn],
    responses=OpenApiTypes.OBJECT,
    description="Newest first, the original's filters (site_id integer id or code, miner_id, status: "
    "pending / sent / executing / completed / failed / expired / cancelled, limit ≤ 1000): "
    "{success, commands: [the original's command dict], count}. This project's list: GET /api/admin/v1/commands.",
)
class LegacyCommandHistoryApi(APIView):
    """GET /api/collector/commands/history — the original's command history."""

    permission_classes = [IsOperator]

    def get(self, request):
        f = valid(HistoryIn, request.query_params)
        qs = commands_for(request.user).select_related("site", "miner")
        if "site_id" in f:
            qs = qs.filter(site=legacy_site_get(request.user, f["site_id"]))
        if "miner_id" in f:
            qs = qs.filter(miner__miner_id=f["miner_id"])
        if "status" in f:
            qs = qs.filter(state__in=legacy_shapes.ORIGINAL_STATES[f["status"]])
        qs = qs.annotate(sent_at=Min("attempts__leased_at")).order_by("-created_at", "-pk")[: f["limit"]]
        commands = legacy_shapes.command_dicts(qs)
        return Response({"success": True, "commands": commands, "count": len(commands)})


class StatsIn(serializers.Serializer):
    site_id = serializers.CharField(required=False, max_length=64)


@extend_schema(
    deprecated=True,
    parameters=[StatsIn],
    responses=OpenApiTypes.OBJECT,
    description="{success, stats: {<original status>: n}, active_pending, total} and this project's "
    "by_state / by_type beside them.",
)
class LegacyCommandStatsApi(APIView):
    """GET /api/collector/commands/stats[?site_id=] — counts by state and type in the caller's scope."""

    permission_classes = [IsOperator]

    def get(self, request):
        f = valid(StatsIn, request.query_params)
        qs = commands_for(request.user)
        if "site_id" in f:
            qs = qs.filter(site=legacy_site_get(request.user, f["site_id"]))
        by_state = dict(qs.order_by().values_list("state").annotate(n=Count("id")))
        by_type = dict(qs.order_by().values_list("command_type").annotate(n=Count("id")))
        pending = qs.filter(state__in=legacy_shapes.ORIGINAL_STATES["pending"], expires_at__gte=timezone.now())
        return Response(
            _legacy(
                {
                    "stats": legacy_shapes.original_stats(by_state),
                    "active_pending": pending.count(),
                    "total": sum(by_state.values()),
                    "site_id": f.get("site_id"),
                    "by_state": by_state,
                    "by_type": by_type,
                }
            )
        )
