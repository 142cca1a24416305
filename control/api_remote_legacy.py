"""The original application's remote-control routes (/api/sites/<site_id>/commands,
/api/commands/<id>[/cancel|/approve]) in their shapes, with the original's `_deprecation` block
and headers. Same selectors and services as /api/v1/commands (control.api_legacy_v1)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from control import legacy_v1_shapes as shapes
from control.api_legacy_v1 import decision_reason, group_or_403, propose, reloaded
from control.api_serializers import valid
from control.selectors import commands_for, legacy_groups_page
from control.services import groups
from tenants import scoping
from tenants.permissions import IsOperator

LIST_MAX = 100
DEPRECATION = {
    "warning": "This endpoint is deprecated. Please migrate to /api/admin/v1/commands. See docs/COMPATIBILITY.md",
    "sunset_date": None,
    "migration_guide": "docs/COMPATIBILITY.md",
    "new_endpoint": "/api/admin/v1/commands",
}


def deprecated(body: dict, code: int = status.HTTP_200_OK) -> Response:
    response = Response({**body, "_deprecation": DEPRECATION}, status=code)
    response["Deprecation"] = "true"
    response["Link"] = '</api/admin/v1/commands>; rel="successor-version"'
    return response


@extend_schema(deprecated=True, request=shapes.ProposeIn, responses=OpenApiTypes.OBJECT)
class LegacySiteCommandsApi(APIView):
    """GET /api/sites/<site_id>/commands[?status&limit&offset] — the site's commands, with results.
    POST {command_type, payload, target_ids, idempotency_key?} — create (operators)."""

    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "GET" else [IsOperator()]

    def get(self, request, site_id):
        site = scoping.site_get(request.user, site_id)
        f = valid(shapes.ListIn, request.query_params)
        qs = commands_for(request.user).filter(site=site)
        if "status" in f:
            qs = qs.filter(state__in=shapes.STATES_BY_STATUS.get(f["status"], ()))
        limit = min(f["limit"], LIST_MAX)
        total, page = legacy_groups_page(qs, offset=f["offset"], limit=limit)
        return deprecated(
            {
                "commands": [shapes.command_dict(g, include_results=True) for g in page],
                "total": total,
                "limit": limit,
                "offset": f["offset"],
            }
        )

    def post(self, request, site_id):
        scoping.site_get(request.user, site_id)
        data = valid(shapes.ProposeIn, request.data)
        commands, created = propose(request, data, site_id)
        command = shapes.command_dict(commands, include_results=True)
        if not created:  # the same idempotency_key again: the original answered the command it made
            return Response({"command": command})
        message = "Command pending approval" if command["status"] == "PENDING_APPROVAL" else "Command queued"
        return deprecated({"success": True, "command": command, "message": message}, status.HTTP_201_CREATED)


@extend_schema(deprecated=True, responses=OpenApiTypes.OBJECT)
class LegacyRemoteCommandApi(APIView):
    """GET /api/commands/<id> — {command} with results (customers: their tenants' commands)."""

    def get(self, request, command_id):
        return deprecated({"command": shapes.command_dict(group_or_403(request, command_id), include_results=True)})


@extend_schema(deprecated=True, request=shapes.DecisionIn, responses=OpenApiTypes.OBJECT)
class LegacyRemoteCancelApi(APIView):
    """POST /api/commands/<id>/cancel — cancel what has not been handed to a collector."""

    permission_classes = [IsOperator]

    def post(self, request, command_id):
        commands = group_or_403(request, command_id)
        data = valid(shapes.DecisionIn, request.data)
        groups.group_cancel(actor=Actor.user(request.user), user=request.user, commands=commands, reason=data["reason"])
        return deprecated({"success": True, "command": shapes.command_dict(reloaded(commands), include_results=True)})


@extend_schema(deprecated=True, request=shapes.DecisionIn, responses=OpenApiTypes.OBJECT)
class LegacyRemoteApproveApi(APIView):
    """POST /api/commands/<id>/approve — approve (requester ≠ approver); queued for the collectors at once."""

    permission_classes = [IsOperator]

    def post(self, request, command_id):
        commands = group_or_403(request, command_id)
        data = valid(shapes.DecisionIn, request.data)
        groups.group_approve(
            actor=Actor.user(request.user),
            user=request.user,
            commands=commands,
            reason=decision_reason(data, "approved (original API)"),
        )
        commands = reloaded(commands)
        command = shapes.command_dict(commands, include_results=True)
        queued = sum(1 for c in commands if c.state == shapes.S.QUEUED)
        command["dispatch"] = {"dispatched": queued, "errors": 0, "error_details": None}
        return deprecated({"success": True, "command": command})
