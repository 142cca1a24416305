"""The original operator pages' miner control routes under /hosting/api/miners… (SPEC §11;
docs/COMPATIBILITY.md "/hosting/api (operator)"): deprecated, never removed, answered in the
original's keys over the one command path (control.api_admin.command_create_from_request), so
approvals, guardrails, locks and rate limits apply exactly as on /api/admin/v1/commands.

    POST /hosting/api/miners/<miner_id>/start | shutdown | restart   {force_status?}
    POST /hosting/api/miners/<miner_id>/command   {command_type, parameters?, confirmed?}
    POST /hosting/api/miners/batch-start | batch-shutdown   {miner_ids, force_status?}
    POST /hosting/api/miners/batch-command   {miner_ids, command_type, parameters?, confirmed?}

`miner_id` is the Miner's database id (the original's `hosting_miners.id`; the importer keeps the
miner, not that number, so pages built after the import read the new ids from GET
/hosting/api/miners). A miner outside the caller's scope answers the same 403 as a missing one.
`force_status` (the original wrote the miner's status without a collector) is not carried: a
miner's state is what its collector reports; the command is queued either way and
`collector_available` says whether the site has an active collector to take it."""

from collections import defaultdict

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from control.api_admin import command_create_from_request
from control.api_fields import CommandTypeField
from control.api_serializers import CreateIn, valid
from control.errors import MinerLocked
from control.legacy_shapes import original_name
from control.services.params import HIGH_RISK_TYPES, TYPE_ALIASES
from core.errors import DomainError, Forbidden
from tenants import scoping
from tenants.models import Collector
from tenants.permissions import IsOperator

ACTIONS = {"start": "enable_hashing", "shutdown": "disable_hashing", "restart": "reboot"}
MESSAGES = {"enable_hashing": "start", "disable_hashing": "shutdown", "reboot": "restart"}
BATCH_MAX = 5000


class ConfirmationRequired(DomainError):
    status_code = 400
    error_code = "CONFIRMATION_REQUIRED"


class ActionIn(serializers.Serializer):
    force_status = serializers.BooleanField(required=False, default=False, help_text="accepted, not carried")
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class CommandIn(ActionIn):
    command_type = CommandTypeField()
    parameters = serializers.JSONField(required=False, default=dict)
    confirmed = serializers.BooleanField(required=False, default=False)


class BatchActionIn(ActionIn):
    miner_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), allow_empty=False, min_length=1, max_length=BATCH_MAX
    )


class BatchCommandIn(BatchActionIn, CommandIn):
    pass


def _miners(user, ids: list[int]) -> list:
    """The miners with these database ids, every one in the caller's scope, or 403 FORBIDDEN."""
    wanted = list(dict.fromkeys(ids))
    found = list(scoping.miners_for(user).select_related("site").filter(pk__in=wanted).order_by("pk"))
    if len(found) != len(wanted):
        raise Forbidden(scoping.FORBIDDEN_MESSAGE)
    return found


def _command_type(data: dict) -> str:
    """The original's names (enable / disable / restart) or this project's; dangerous ones only
    with `confirmed: true`, as the original's remote-command dialog."""
    name = TYPE_ALIASES.get(data["command_type"], data["command_type"])
    if name in HIGH_RISK_TYPES and not data["confirmed"]:
        raise ConfirmationRequired(
            f"{data['command_type']} needs confirmed: true",
            requires_confirmation=True,
            command_type=data["command_type"],
        )
    return name


def _collector_sites(site_ids) -> set[int]:
    return set(Collector.objects.filter(site_id__in=set(site_ids), is_active=True).values_list("site_id", flat=True))


def _create(request, miners: list, command_type: str, data: dict) -> tuple[list[dict], list[dict]]:
    """Create through the one command path, one call per site: (commands made or found, skipped)."""
    by_site = defaultdict(list)
    for m in miners:
        by_site[m.site].append(m.miner_id)
    made: list[dict] = []
    skipped: list[dict] = []
    for site, miner_ids in by_site.items():
        body = {
            "site_id": site.code,
            "miners": miner_ids,
            "command_type": command_type,
            "params": data.get("parameters") or {},
            "reason": data["reason"],
        }
        try:
            out, _code = command_create_from_request(request, valid(CreateIn, body))
        except MinerLocked as exc:  # nothing of this site could take it: told per miner
            skipped += exc.extra.get("skipped", [])
            continue
        made += out["created"] + out["existing"]
        skipped += out["skipped"]
    return made, skipped


def _miner_dict(m, *, collector: bool) -> dict:
    return {
        "id": m.pk,
        "miner_id": m.miner_id,
        "serial_number": m.miner_id,
        "site_id": m.site.code,
        "model": m.model,
        "collector_available": collector,
    }


def _single(request, miner_id: int, command_type: str, data: dict) -> Response:
    miner = scoping.object_get(scoping.miners_for(request.user).select_related("site"), miner_id)
    made, skipped = _create(request, [miner], command_type, data)
    if not made:
        raise MinerLocked("the miner cannot take a command now", skipped=skipped)
    command = made[0]
    collector = bool(_collector_sites([miner.site_id]))
    verb = MESSAGES.get(command_type, original_name(command_type))
    pending = command["state"] == "proposed"
    return Response(
        {
            "success": True,
            "message": f"{verb} command {'pending approval' if pending else 'queued'}",
            "command_queued": not pending,
            "approval_required": pending,
            "collector_available": collector,
            "commands_queued": 0 if pending else 1,
            "miner_id": miner.pk,
            "serial_number": miner.miner_id,
            "miner": _miner_dict(miner, collector=collector),
            "command": command,
        }
    )


def _batch(request, data: dict, command_type: str) -> Response:
    miners = _miners(request.user, data["miner_ids"])
    made, skipped = _create(request, miners, command_type, data)
    if not made:
        raise MinerLocked("no miner of the batch can take a command now", skipped=skipped)
    with_collector = _collector_sites(m.site_id for m in miners)
    queued = sum(1 for c in made if c["state"] != "proposed")
    no_collector = [m.pk for m in miners if m.site_id not in with_collector]
    verb = MESSAGES.get(command_type, original_name(command_type))
    return Response(
        {
            "success": True,
            "message": f"{verb}: {len(made)} commands ({queued} queued, {len(made) - queued} pending approval)",
            "updated_count": len(made),
            "commands_queued": queued,
            "approval_required": queued < len(made),
            "skipped_no_collector": no_collector,
            "skipped": skipped,
            "results": made,
        }
    )


DESCRIPTION = "Legacy path (SPEC §11): deprecated, never removed. Use POST /api/admin/v1/commands. "


@extend_schema(deprecated=True, request=ActionIn, responses=OpenApiTypes.OBJECT, description=DESCRIPTION)
class LegacyMinerActionApi(APIView):
    """POST /hosting/api/miners/<id>/start|shutdown|restart — one command for one miner."""

    permission_classes = [IsOperator]
    action = "start"

    def post(self, request, miner_id):
        data = valid(ActionIn, request.data)
        return _single(request, miner_id, ACTIONS[self.action], data)


@extend_schema(deprecated=True, request=CommandIn, responses=OpenApiTypes.OBJECT, description=DESCRIPTION)
class LegacyMinerCommandApi(APIView):
    """POST /hosting/api/miners/<id>/command — any command type (the original's names too)."""

    permission_classes = [IsOperator]

    def post(self, request, miner_id):
        scoping.object_get(scoping.miners_for(request.user), miner_id)  # 403 before any talk of the body
        data = valid(CommandIn, request.data)
        return _single(request, miner_id, _command_type(data), data)


@extend_schema(deprecated=True, request=BatchActionIn, responses=OpenApiTypes.OBJECT, description=DESCRIPTION)
class LegacyMinerBatchActionApi(APIView):
    """POST /hosting/api/miners/batch-start|batch-shutdown — one command per miner."""

    permission_classes = [IsOperator]
    action = "start"

    def post(self, request):
        return _batch(request, valid(BatchActionIn, request.data), ACTIONS[self.action])


@extend_schema(deprecated=True, request=BatchCommandIn, responses=OpenApiTypes.OBJECT, description=DESCRIPTION)
class LegacyMinerBatchCommandApi(APIView):
    """POST /hosting/api/miners/batch-command — any command type for many miners."""

    permission_classes = [IsOperator]

    def post(self, request):
        data = valid(BatchCommandIn, request.data)
        _miners(request.user, data["miner_ids"])
        return _batch(request, data, _command_type(data))
