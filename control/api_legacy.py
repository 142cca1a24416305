"""The original application's operator command routes (/api/collector/commands…, SPEC §11):
deprecated aliases of the v1 views, in the old body and answer shapes; never removed."""

from django.db.models import Count
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from control.api_admin import ORDERING, command_create_from_request, filtered
from control.api_serializers import (
    CommandOut,
    CreateIn,
    FilterIn,
    ReasonIn,
    command_or_403,
    valid,
)
from control.selectors import commands_for
from control.services import decisions
from core.api.pagination import paginate
from tenants import scoping
from tenants.permissions import IsOperator

# --- legacy (/api/collector/commands…, deprecated) -------------------------------------------------


class LegacyCreateIn(CreateIn):
    """The old app's body: `command` (or `action`) for command_type, `miner_ids` for miners."""

    command_type = serializers.CharField(max_length=32, required=False)
    command = serializers.CharField(max_length=32, required=False)
    action = serializers.CharField(max_length=32, required=False)
    miner_ids = serializers.ListField(
        child=serializers.CharField(max_length=128), required=False, allow_empty=False, max_length=5000
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


@extend_schema(deprecated=True, request=LegacyCreateIn, responses=OpenApiTypes.OBJECT)
class LegacyCommandCreateApi(APIView):
    """POST /api/collector/commands — deprecated alias of POST /api/admin/v1/commands (one miner)."""

    permission_classes = [IsOperator]

    def post(self, request):
        data = valid(LegacyCreateIn, request.data)
        body, code = command_create_from_request(request, data)
        return Response(_legacy({"command_id": body.get("id"), "command": body} if "id" in body else body), status=code)


@extend_schema(deprecated=True, request=LegacyCreateIn, responses=OpenApiTypes.OBJECT)
class LegacyCommandBatchApi(APIView):
    """POST /api/collector/commands/batch — deprecated alias of a batch POST /api/admin/v1/commands."""

    permission_classes = [IsOperator]

    def post(self, request):
        data = valid(LegacyCreateIn, request.data)
        if "miner_id" in data:
            data["miners"] = [data.pop("miner_id")]
        body, code = command_create_from_request(request, data)
        return Response(_legacy(body), status=code)


@extend_schema(deprecated=True, request=ReasonIn, responses=OpenApiTypes.OBJECT)
class LegacyCommandCancelApi(APIView):
    """DELETE /api/collector/commands/<id>[?reason=…] — deprecated alias of …/<id>/cancel."""

    permission_classes = [IsOperator]

    def delete(self, request, pk):
        command = command_or_403(request, pk)
        reason = request.query_params.get("reason") or (
            request.data.get("reason", "") if isinstance(request.data, dict) else ""
        )
        result = decisions.command_cancel(
            actor=Actor.user(request.user), user=request.user, command=command, reason=reason
        )
        return Response(_legacy({"command_id": result.pk, "state": result.state}))


@extend_schema(deprecated=True, parameters=[FilterIn], responses=OpenApiTypes.OBJECT)
class LegacyCommandHistoryApi(APIView):
    """GET /api/collector/commands/history — deprecated alias of GET /api/admin/v1/commands."""

    permission_classes = [IsOperator]

    def get(self, request):
        page, paginator = paginate(request, filtered(request), ordering=ORDERING)
        return Response(_legacy({"commands": CommandOut(page, many=True).data, "next": paginator.get_next_link()}))


class StatsIn(serializers.Serializer):
    site_id = serializers.CharField(required=False, max_length=64)


@extend_schema(deprecated=True, parameters=[StatsIn], responses=OpenApiTypes.OBJECT)
class LegacyCommandStatsApi(APIView):
    """GET /api/collector/commands/stats[?site_id=] — counts by state and type in the caller's scope."""

    permission_classes = [IsOperator]

    def get(self, request):
        f = valid(StatsIn, request.query_params)
        qs = commands_for(request.user)
        if "site_id" in f:
            qs = qs.filter(site=scoping.site_get(request.user, f["site_id"]))
        by_state = dict(qs.order_by().values_list("state").annotate(n=Count("id")))
        by_type = dict(qs.order_by().values_list("command_type").annotate(n=Count("id")))
        return Response(
            _legacy(
                {"site_id": f.get("site_id"), "total": sum(by_state.values()), "by_state": by_state, "by_type": by_type}
            )
        )
