"""Operator command API (SPEC §6.4): /api/admin/v1/commands, the same views under /api/v1/commands,
and the deprecated /api/collector/commands… paths of the old Flask app (session auth).

Thin views: resolve the objects named in the request inside the caller's VIEW scope (anything
else — missing or foreign — is 403 FORBIDDEN, SPEC §2), call a lifecycle service, serialize.
Customers get 403 on all of it: their read-only view of commands is the portal."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import Actor
from control.api_serializers import (
    CLASS_BY_NAME,
    LIST_RELATED,
    CommandDetailOut,
    CommandOut,
    CreateIn,
    FilterIn,
    ReasonIn,
    command_or_403,
    valid,
)
from control.errors import MinerLocked
from control.models import (
    Command,
)
from control.selectors import commands_for
from control.services import creation, decisions, rollback
from core.api.pagination import PAGE_PARAMETERS, PageSchema, filter_by, paginated
from core.errors import Forbidden
from tenants import scoping
from tenants.permissions import IsOperator
from tenants.site_identity import site_named_q

ORDERING = ("-created_at", "-id")
LOOKUPS = {
    "miner_id": "miner__miner_id",
    "state": "state",
    "type": "command_type",
    "batch_id": "batch_id",
}


def filtered(request):
    f = valid(FilterIn, request.query_params)
    qs = filter_by(commands_for(request.user).select_related(*LIST_RELATED), f, LOOKUPS)
    return qs.filter(site_named_q(f["site_id"], "site")) if "site_id" in f else qs


def miners_named(user, site, ids: list[str]) -> list:
    """The site's miners with these miner_ids, all in the user's scope, or 403 FORBIDDEN."""
    wanted = list(dict.fromkeys(ids))
    found = list(scoping.miners_for(user).select_related("site", "zone").filter(site=site, miner_id__in=wanted))
    if len(found) != len(wanted):
        raise Forbidden("a miner is not in your scope")
    return found


def _group(user, site, name: str):
    group = scoping.miner_groups_for(user).filter(site=site, name=name).first()
    if group is None:
        raise Forbidden("no such group in your scope")
    return group


def _skip_out(skips) -> list[dict]:
    return [
        {"miner_id": s.miner.miner_id, "site_id": s.miner.site.code, "error_code": s.error_code, "reason": s.reason}
        for s in skips
    ]


def _reload(commands) -> list[Command]:
    return list(Command.objects.select_related(*LIST_RELATED).filter(pk__in=[c.pk for c in commands]).order_by("pk"))


def command_create_from_request(request, data: dict) -> tuple[dict, int]:
    """POST body → create one, a batch, or a dry run; shared by v1 and the legacy paths."""
    user = request.user
    actor = Actor.user(user)
    site = scoping.site_get(user, data["site_id"])
    common = {
        "command_type": data["command_type"],
        "params": data.get("params"),
        "priority_class": CLASS_BY_NAME[data["priority_class"]],
        "priority": data["priority"],
        "ttl_sec": data.get("ttl_sec"),
        "emergency": data["emergency"],
        "dedupe_key": data.get("dedupe_key"),
    }
    if "group" in data:
        targets = {"group": _group(user, site, data["group"])}
    else:
        targets = {"miners": miners_named(user, site, data.get("miners") or [data["miner_id"]])}
    if data["dry_run"]:
        p = creation.command_batch_preview(user=user, **targets, **common)
        body = {
            "dry_run": True,
            "command_type": p.command_type,
            "params": p.params,
            "state": p.state,
            "approval_required": p.approval_required,
            "approval_reasons": p.approval_reasons,
            "estimated_kw": p.estimated_kw,
            "miners": [
                {"miner_id": m.miner_id, "site_id": m.site.code, "nominal_power_w": m.nominal_power_w} for m in p.miners
            ],
            "skipped": _skip_out(p.skipped),
            "existing": [c.pk for c in p.existing],
        }
        return body, status.HTTP_200_OK
    if "miner_id" in data:
        command = creation.command_create(
            actor=actor, user=user, miner=targets["miners"][0], reason=data["reason"], **common
        )
        out = CommandOut(_reload([command])[0]).data
        return out, (status.HTTP_200_OK if command.deduplicated else status.HTTP_201_CREATED)
    result = creation.command_batch_create(actor=actor, user=user, reason=data["reason"], **targets, **common)
    if not result.created and not result.existing:
        raise MinerLocked("no miner of the batch can take a command now", skipped=_skip_out(result.skipped))
    body = {
        "batch_id": str(result.batch_id) if result.batch_id else None,
        "approval_required": bool(result.approval_reasons),
        "approval_reasons": result.approval_reasons,
        "estimated_kw": result.estimated_kw,
        "created": CommandOut(_reload(result.created), many=True).data,
        "existing": CommandOut(_reload(result.existing), many=True).data,
        "skipped": _skip_out(result.skipped),
    }
    return body, (status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class CommandListCreateApi(APIView):
    """GET: commands in the caller's scope, newest first (filters site_id, miner_id, state, type,
    batch_id; cursor pagination). POST: create for `miner_id`, a batch for `miners` or `group`,
    or with `dry_run: true` a preview that creates nothing."""

    pagination_class = PageSchema  # the schema's page shape; the view answers with `paginated`

    permission_classes = [IsOperator]

    @extend_schema(parameters=[FilterIn, *PAGE_PARAMETERS], responses=CommandOut(many=True))
    def get(self, request):
        return paginated(request, filtered(request), lambda rows: CommandOut(rows, many=True).data, ordering=ORDERING)

    @extend_schema(request=CreateIn, responses={201: CommandOut})
    def post(self, request):
        body, code = command_create_from_request(request, valid(CreateIn, request.data))
        return Response(body, status=code)


class CommandDetailApi(APIView):
    """GET one command with its attempts, ACK evidence and audit timeline."""

    permission_classes = [IsOperator]

    @extend_schema(responses=CommandDetailOut)
    def get(self, request, pk):
        return Response(CommandDetailOut(command_or_403(request, pk)).data)


class _DecisionApi(APIView):
    permission_classes = [IsOperator]
    service = None
    created_status = status.HTTP_200_OK

    def post(self, request, pk):
        command = command_or_403(request, pk)  # scope first: a foreign id says nothing about the body
        data = valid(ReasonIn, request.data)
        result = type(self).service(
            actor=Actor.user(request.user), user=request.user, command=command, reason=data["reason"]
        )
        return Response(CommandOut(_reload([result])[0]).data, status=self.created_status)


@extend_schema(request=ReasonIn, responses=CommandOut)
class CommandApproveApi(_DecisionApi):
    """POST {reason}: proposed → approved → queued. The requester cannot approve (SELF_APPROVAL)."""

    service = staticmethod(decisions.command_approve)


@extend_schema(request=ReasonIn, responses=CommandOut)
class CommandRejectApi(_DecisionApi):
    """POST {reason}: proposed → rejected."""

    service = staticmethod(decisions.command_reject)


@extend_schema(request=ReasonIn, responses=CommandOut)
class CommandCancelApi(_DecisionApi):
    """POST {reason}: cancel a proposed/approved/queued command, or a leased one with a reason."""

    service = staticmethod(decisions.command_cancel)


@extend_schema(request=ReasonIn, responses={201: CommandOut})
class CommandRollbackApi(_DecisionApi):
    """POST {reason}: create the command that undoes a succeeded reversible one; answers the new command."""

    service = staticmethod(rollback.command_rollback)
    created_status = status.HTTP_201_CREATED
