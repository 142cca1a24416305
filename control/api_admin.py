"""Operator command API (SPEC §6.4): /api/admin/v1/commands, the same views under /api/v1/commands,
and the deprecated /api/collector/commands… paths of the old Flask app (session auth).

Thin views: resolve the objects named in the request inside the caller's VIEW scope (anything
else — missing or foreign — is 403 FORBIDDEN, SPEC §2), call a lifecycle service, serialize.
Customers get 403 on all of it: their read-only view of commands is the portal."""

from django.db.models import Count
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import AuditEvent
from audit.services import Actor
from control.errors import InvalidParams, MinerLocked
from control.models import (
    Command,
    CommandAck,
    CommandAttempt,
    CommandState,
    CommandType,
    PriorityClass,
)
from control.selectors import command_events, command_get_for, commands_for
from control.services import creation, decisions, params, rollback
from core.errors import Forbidden
from tenants import scoping
from tenants.permissions import IsOperator

CLASS_NAMES = {c.value: c.name.lower() for c in PriorityClass}
CLASS_BY_NAME = {name: value for value, name in CLASS_NAMES.items()}
LIST_RELATED = ("site", "zone", "miner", "created_by", "approved_by")


def _valid(serializer_class, data) -> dict:
    """Validate, or INVALID_PARAMS naming the first bad field (the commands API's one error shape)."""
    s = serializer_class(data=data)
    if not s.is_valid():
        name, errors = next(iter(s.errors.items()))
        message = errors[0] if isinstance(errors, list) and errors else str(errors)
        raise InvalidParams(name, str(message))
    return s.validated_data


def _forbidden() -> Forbidden:
    # Missing and out of scope answer the same (SPEC §2): nothing tells whether it exists.
    return Forbidden("no such command in your scope")


def _command_or_403(request, pk) -> Command:
    command = command_get_for(request.user, pk)
    if command is None:
        raise _forbidden()
    return command


class CommandOut(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    command_type = serializers.CharField()
    params = serializers.SerializerMethodField()
    priority_class = serializers.SerializerMethodField()
    priority = serializers.IntegerField()
    emergency = serializers.BooleanField()
    site_id = serializers.CharField(source="site.code")
    zone_id = serializers.SerializerMethodField()
    miner_id = serializers.CharField(source="miner.miner_id")
    reason = serializers.CharField()
    blocked_reason = serializers.CharField()
    approval_required = serializers.BooleanField()
    approval_expires_at = serializers.DateTimeField(allow_null=True)
    approved_by = serializers.SerializerMethodField()
    approved_at = serializers.DateTimeField(allow_null=True)
    decided_reason = serializers.CharField()
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    ttl_sec = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    attempt = serializers.IntegerField()
    lease_epoch = serializers.IntegerField()
    lease_until = serializers.DateTimeField(allow_null=True)
    outcome = serializers.CharField()
    error_code = serializers.CharField()
    error_message = serializers.CharField()
    dedupe_key = serializers.CharField(allow_null=True)
    batch_id = serializers.UUIDField(allow_null=True)
    group = serializers.IntegerField(source="group_id", allow_null=True)
    rollback_of = serializers.IntegerField(source="rollback_of_id", allow_null=True)
    superseded_by = serializers.IntegerField(source="superseded_by_id", allow_null=True)

    def get_params(self, c) -> dict:
        return params.redact(c.params)

    def get_priority_class(self, c) -> str:
        return CLASS_NAMES.get(c.priority_class, str(c.priority_class))

    def get_zone_id(self, c) -> str | None:
        return c.zone.code if c.zone_id else None

    def get_approved_by(self, c) -> str | None:
        return c.approved_by.get_username() if c.approved_by_id else None

    def get_created_by(self, c) -> str:
        return c.created_by.get_username() if c.created_by_id else f"system:{c.created_by_system or 'unknown'}"


class AttemptOut(serializers.ModelSerializer):
    collector = serializers.CharField(source="collector.name")

    class Meta:
        model = CommandAttempt
        fields = (
            "attempt",
            "wire_id",
            "lease_epoch",
            "collector",
            "device_id",
            "leased_at",
            "lease_until",
            "lease_ended_at",
            "lease_end_reason",
            "ack_status",
            "result_code",
            "error_class",
            "result_message",
            "before",
            "after",
            "acked_at",
        )


class AckOut(serializers.ModelSerializer):
    class Meta:
        model = CommandAck
        fields = ("wire_id", "device_id", "endpoint", "received_at", "disposition", "payload")


class EventOut(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ("id", "occurred_at", "action", "actor_type", "actor_label", "payload", "chain_key", "seq", "hash")


class CommandDetailOut(CommandOut):
    attempts = serializers.SerializerMethodField()
    acks = serializers.SerializerMethodField()
    events = serializers.SerializerMethodField()

    def get_attempts(self, c) -> list:
        return AttemptOut(c.attempts.select_related("collector").order_by("attempt", "lease_epoch"), many=True).data

    def get_acks(self, c) -> list:
        return AckOut(c.acks.order_by("received_at", "pk"), many=True).data

    def get_events(self, c) -> list:
        return EventOut(command_events(c), many=True).data


class CommandPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "limit"


class FilterIn(serializers.Serializer):
    site_id = serializers.CharField(required=False, max_length=64)
    miner_id = serializers.CharField(required=False, max_length=128)
    state = serializers.ChoiceField(choices=CommandState.values, required=False)
    type = serializers.ChoiceField(choices=CommandType.values, required=False)
    batch_id = serializers.UUIDField(required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000)
    cursor = serializers.CharField(required=False)


def _filtered(request):
    f = _valid(FilterIn, request.query_params)
    qs = commands_for(request.user).select_related(*LIST_RELATED)
    if "site_id" in f:
        qs = qs.filter(site__code=f["site_id"])
    if "miner_id" in f:
        qs = qs.filter(miner__miner_id=f["miner_id"])
    if "state" in f:
        qs = qs.filter(state=f["state"])
    if "type" in f:
        qs = qs.filter(command_type=f["type"])
    if "batch_id" in f:
        qs = qs.filter(batch_id=f["batch_id"])
    return qs


class CreateIn(serializers.Serializer):
    site_id = serializers.CharField(max_length=64)
    miner_id = serializers.CharField(required=False, max_length=128)
    miners = serializers.ListField(
        child=serializers.CharField(max_length=128), required=False, allow_empty=False, max_length=5000
    )
    group = serializers.CharField(required=False, max_length=200)
    command_type = serializers.CharField(max_length=32)
    params = serializers.JSONField(required=False, default=dict)
    priority_class = serializers.ChoiceField(choices=list(CLASS_BY_NAME), default="convenience")
    priority = serializers.IntegerField(default=0, min_value=-1000, max_value=1000)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    ttl_sec = serializers.IntegerField(required=False)
    emergency = serializers.BooleanField(default=False)
    dedupe_key = serializers.CharField(required=False, max_length=160)
    dry_run = serializers.BooleanField(default=False)

    def validate(self, data):
        given = [k for k in ("miner_id", "miners", "group") if k in data]
        if len(given) != 1:
            raise serializers.ValidationError({"miner_id": "give exactly one of miner_id, miners, group"})
        return data


def _miners(user, site, ids: list[str]) -> list:
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
        targets = {"miners": _miners(user, site, data.get("miners") or [data["miner_id"]])}
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

    permission_classes = [IsOperator]

    @extend_schema(parameters=[FilterIn], responses=CommandOut(many=True))
    def get(self, request):
        qs = _filtered(request)
        paginator = CommandPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(CommandOut(page, many=True).data)

    @extend_schema(request=CreateIn, responses={201: CommandOut})
    def post(self, request):
        body, code = command_create_from_request(request, _valid(CreateIn, request.data))
        return Response(body, status=code)


class CommandDetailApi(APIView):
    """GET one command with its attempts, ACK evidence and audit timeline."""

    permission_classes = [IsOperator]

    @extend_schema(responses=CommandDetailOut)
    def get(self, request, pk):
        return Response(CommandDetailOut(_command_or_403(request, pk)).data)


class ReasonIn(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class _DecisionApi(APIView):
    permission_classes = [IsOperator]
    service = None
    created_status = status.HTTP_200_OK

    def post(self, request, pk):
        command = _command_or_403(request, pk)  # scope first: a foreign id says nothing about the body
        data = _valid(ReasonIn, request.data)
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
        data = _valid(LegacyCreateIn, request.data)
        body, code = command_create_from_request(request, data)
        return Response(_legacy({"command_id": body.get("id"), "command": body} if "id" in body else body), status=code)


@extend_schema(deprecated=True, request=LegacyCreateIn, responses=OpenApiTypes.OBJECT)
class LegacyCommandBatchApi(APIView):
    """POST /api/collector/commands/batch — deprecated alias of a batch POST /api/admin/v1/commands."""

    permission_classes = [IsOperator]

    def post(self, request):
        data = _valid(LegacyCreateIn, request.data)
        if "miner_id" in data:
            data["miners"] = [data.pop("miner_id")]
        body, code = command_create_from_request(request, data)
        return Response(_legacy(body), status=code)


@extend_schema(deprecated=True, request=ReasonIn, responses=OpenApiTypes.OBJECT)
class LegacyCommandCancelApi(APIView):
    """DELETE /api/collector/commands/<id>[?reason=…] — deprecated alias of …/<id>/cancel."""

    permission_classes = [IsOperator]

    def delete(self, request, pk):
        command = _command_or_403(request, pk)
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
        paginator = CommandPagination()
        page = paginator.paginate_queryset(_filtered(request), request, view=self)
        return Response(_legacy({"commands": CommandOut(page, many=True).data, "next": paginator.get_next_link()}))


class StatsIn(serializers.Serializer):
    site_id = serializers.CharField(required=False, max_length=64)


@extend_schema(deprecated=True, parameters=[StatsIn], responses=OpenApiTypes.OBJECT)
class LegacyCommandStatsApi(APIView):
    """GET /api/collector/commands/stats[?site_id=] — counts by state and type in the caller's scope."""

    permission_classes = [IsOperator]

    def get(self, request):
        f = _valid(StatsIn, request.query_params)
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
