"""The original application's command API on /api/v1/commands… (docs/COMPATIBILITY.md), in its
request and answer shapes, over the same selectors and services as /api/admin/v1/commands.

How the two clients are told apart: the original's command ids are UUIDs (a batch here), this
project's are integers — /api/v1/commands/<uuid>… answers the original's shape, <int>… this
project's. GET /api/v1/commands (the list) answers the original's shape; this project's list is
/api/admin/v1/commands. POST /api/v1/commands (no original route) stays this project's create.

Reads are open to customers, scoped (their tenants' commands), as the original's were; deciding is
operators' (403 FORBIDDEN for customers). Proposing is operators' and, on their own miners and for
the types their tenant's consent policy names (customer_types), customers' (control.services.owner_proposals)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from control import legacy_v1_shapes as shapes
from control.api_admin import CommandListCreateApi, miners_named
from control.api_serializers import forbidden, valid
from control.errors import InvalidParams, MinerLocked, NotYours
from control.models import Command
from control.proposal_throttle import proposal_gate, proposal_refusal_count
from control.selectors import GROUP_RELATED, commands_for, legacy_group_get, legacy_groups_page
from control.services import creation, groups, owner_proposals
from core.errors import Forbidden
from tenants import scoping
from tenants.permissions import IsOperator
from tenants.site_identity import site_named_q

LIST_MAX = 200


def group_or_403(request, command_id) -> list[Command]:
    commands = legacy_group_get(request.user, command_id)
    if not commands:
        raise forbidden()
    return commands


def reloaded(commands: list[Command]) -> list[Command]:
    return list(Command.objects.select_related(*GROUP_RELATED).filter(pk__in=[c.pk for c in commands]).order_by("pk"))


def _targets(user, data: dict, site) -> list:
    miners = miners_named(user, site, data["target_ids"])
    zone_id = data.get("zone_id")
    if zone_id not in (None, ""):
        zone = scoping.zone_get(user, site, str(zone_id))
        if any(m.zone_id != zone.pk for m in miners):
            raise InvalidParams("target_ids", f"a target is not in zone {zone.code}")
    return miners


def propose(request, data: dict, site_id: str) -> tuple[list[Command], bool]:
    """Create the original's command (one batch) → (its commands, created now). An operator's goes
    through the approval policy; a customer's (the original's customer ABAC) is the owner's proposal
    on their own miners, of a type their tenant's consent policy lets them propose, and waits for
    an operator. A customer naming a miner or site not theirs is refused (403) and that is audited;
    past PROPOSAL_REFUSAL_RATE refusals, 429 (control.proposal_throttle)."""
    user = request.user
    command_type, params = shapes.command_in(data["command_type"], data.get("payload"))
    scope = scoping.scope_for(user)
    if not scope.is_operator:
        if not scope.is_customer:
            raise Forbidden("no grant lets you propose commands")
        proposal_gate(user)  # 429 once this customer's refusals fill PROPOSAL_REFUSAL_RATE
        try:
            miners = _targets(user, data, scoping.site_get(user, site_id))
        except Forbidden:
            proposal_refusal_count(user)
            owner_proposals.command_owner_proposal_refuse(
                actor=Actor.user(user),
                user=user,
                tenant_ids=scope.customer_tenant_ids,
                site_code=site_id,
                target_ids=data["target_ids"],
                why="not your miners",
            )
            raise
        try:
            result = owner_proposals.command_owner_propose_batch(
                actor=Actor.user(user),
                user=user,
                miners=miners,
                command_type=command_type,
                params=params,
                ttl_sec=data.get("ttl_seconds"),
                dedupe_key=data.get("idempotency_key"),
                reason=decision_reason(data, "requested by the owner (original API)"),
            )
        except (Forbidden, NotYours):  # PROPOSAL_NOT_ALLOWED; a customer limited to miner groups
            proposal_refusal_count(user)
            raise
    else:
        result = creation.command_batch_create(
            actor=Actor.user(user),
            user=user,
            miners=_targets(user, data, scoping.site_get(user, site_id)),
            command_type=command_type,
            params=params,
            ttl_sec=data.get("ttl_seconds"),
            dedupe_key=data.get("idempotency_key"),
            reason=data["reason"],
        )
    if not result.created and not result.existing:
        raise MinerLocked("no target can take a command now", skipped=[s.reason for s in result.skipped])
    return reloaded([*result.created, *result.existing]), bool(result.created)


def decision_reason(data: dict, default: str) -> str:
    return data["reason"].strip() or default


class LegacyV1CommandListApi(CommandListCreateApi):
    """GET /api/v1/commands — the original's list {commands, total, limit, offset} (filters site_id,
    zone_id, status; offset paging, newest first). POST is this project's create (as /api/admin/v1)."""

    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "GET" else [IsOperator()]

    @extend_schema(
        deprecated=True,
        parameters=[shapes.ListIn],
        responses=OpenApiTypes.OBJECT,
        operation_id="api_v1_commands_original_list",
    )
    def get(self, request):
        f = valid(shapes.ListIn, request.query_params)
        qs = commands_for(request.user)
        if "site_id" in f:
            qs = qs.filter(site_named_q(f["site_id"], "site"))
        if "zone_id" in f:
            qs = qs.filter(zone__code=f["zone_id"])
        if "status" in f:
            qs = qs.filter(state__in=shapes.STATES_BY_STATUS.get(f["status"], ()))
        limit = min(f["limit"], LIST_MAX)
        total, page = legacy_groups_page(qs, offset=f["offset"], limit=limit)
        return Response(
            {
                "commands": [shapes.command_dict(g) for g in page],
                "total": total,
                "limit": limit,
                "offset": f["offset"],
            }
        )


@extend_schema(
    deprecated=True,
    request=shapes.ProposeIn,
    responses={
        201: OpenApiTypes.OBJECT,
        429: OpenApiResponse(
            description="RATE_LIMITED: a customer past PROPOSAL_REFUSAL_RATE refused proposals (Retry-After)"
        ),
    },
)
class LegacyProposeApi(APIView):
    """POST /api/v1/commands/propose {site_id, zone_id?, command_type, payload, target_ids, ttl_seconds?}:
    operators, and customers on their own miners (the types their tenant's consent policy allows)."""

    permission_classes = [IsAuthenticated]

    def post(self, request):
        data = valid(shapes.ProposeIn, request.data)
        if "site_id" not in data:
            raise InvalidParams("site_id", "required")
        commands, created = propose(request, data, data["site_id"])
        body = {
            "success": True,
            "command_id": shapes.legacy_id(commands[0]),
            "status": shapes.status_of(commands),
            "require_approval": any(c.approval_required for c in commands),
            "require_dual_approval": shapes.dual_approval(commands),
            "steps_required": shapes.steps_required(commands),
        }
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class LegacyV1CommandApi(APIView):
    """GET /api/v1/commands/<uuid> — {command (with results), approvals}."""

    @extend_schema(deprecated=True, responses=OpenApiTypes.OBJECT, operation_id="api_v1_commands_original_retrieve")
    def get(self, request, command_id):
        commands = group_or_403(request, command_id)
        return Response(
            {"command": shapes.command_dict(commands, include_results=True), "approvals": shapes.approvals(commands)}
        )


class LegacyV1ApproveApi(APIView):
    """POST /api/v1/commands/<uuid>/approve {reason?, step?} — step 1, the operator's (step 2 is the owner's)."""

    permission_classes = [IsOperator]

    @extend_schema(
        deprecated=True,
        request=shapes.DecisionIn,
        responses=OpenApiTypes.OBJECT,
        operation_id="api_v1_commands_original_approve",
    )
    def post(self, request, command_id):
        commands = group_or_403(request, command_id)
        data = valid(shapes.DecisionIn, request.data)
        shapes.approval_step(data.get("step"))
        groups.group_approve(
            actor=Actor.user(request.user),
            user=request.user,
            commands=commands,
            reason=decision_reason(data, "approved (original API)"),
        )
        commands = reloaded(commands)
        return Response(
            {
                "success": True,
                "command_status": shapes.status_of(commands),
                "approvals_count": shapes.approvals_count(commands),
                "steps_required": shapes.steps_required(commands),
            }
        )


@extend_schema(deprecated=True, request=shapes.DecisionIn, responses=OpenApiTypes.OBJECT)
class LegacyV1DenyApi(APIView):
    """POST /api/v1/commands/<uuid or int>/deny {reason?} — this project's reject."""

    permission_classes = [IsOperator]

    def post(self, request, command_id):
        commands = group_or_403(request, command_id)
        data = valid(shapes.DecisionIn, request.data)
        groups.group_reject(
            actor=Actor.user(request.user),
            user=request.user,
            commands=commands,
            reason=decision_reason(data, "denied (original API)"),
        )
        return Response({"success": True, "command_status": shapes.status_of(reloaded(commands))})


class LegacyV1RollbackApi(APIView):
    """POST /api/v1/commands/<uuid>/rollback {reason?} — the rollbacks of its succeeded commands, as one batch."""

    permission_classes = [IsOperator]

    @extend_schema(
        deprecated=True,
        request=shapes.DecisionIn,
        responses={201: OpenApiTypes.OBJECT},
        operation_id="api_v1_commands_original_rollback",
    )
    def post(self, request, command_id):
        commands = group_or_403(request, command_id)
        data = valid(shapes.DecisionIn, request.data)
        batch_id, created = groups.group_rollback(
            actor=Actor.user(request.user),
            user=request.user,
            commands=commands,
            reason=decision_reason(data, "User requested rollback"),
        )
        created = reloaded(created)
        required = any(c.approval_required for c in created)
        body = {
            "success": True,
            "rollback_command_id": str(batch_id),
            "original_command_id": shapes.legacy_id(commands[0]),
            "status": shapes.status_of(created),
            "approval_required": {
                "require_approval": required,
                "require_dual_approval": shapes.dual_approval(created),
                "steps_required": shapes.steps_required(created),
            },
            "message": "Rollback command created."
            + (" Approval required before execution." if required else " Queued for the collector."),
        }
        return Response(body, status=status.HTTP_201_CREATED)
