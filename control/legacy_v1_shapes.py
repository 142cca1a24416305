"""The original application's command shapes (/api/v1/commands…, /api/sites/<id>/commands,
/api/commands/<id>…): its vocabulary in and out, over this project's commands.

The original's command (a RemoteCommand) had one id for several target miners; here a command is
one miner. An original command is answered as the commands of one batch (id: the batch's UUID) or
one command without a batch (id: its integer id, as a string). Its status is derived from the
states of those commands."""

from typing import Any

from rest_framework import serializers

from control.api_fields import enum_command_type_field
from control.errors import InvalidParams
from control.models import Command, CommandState, CommandType
from control.services import params as command_params
from core.api.pagination import offset_field
from core.errors import DomainError

S = CommandState
T = CommandType

# --- approval steps ---------------------------------------------------------------------------------

# The original approved in numbered steps (1: operations, 2: the miner's owner, when its policy
# asked for two). Here step 1 is the operator's (approver ≠ requester) and step 2 the owner's, which
# a tenant's ConsentPolicy asks for (control.services.consent); the owner gives it in the portal or
# over /api/v1/portal/approvals/<id>/approve, never on the operators' route.
APPROVAL_STEPS = ("ops_approval", "owner_approval")
OPS_STEP, OWNER_STEP = 1, 2


class ApprovalStepUnsupported(DomainError):
    status_code = 400
    error_code = "APPROVAL_STEP_UNSUPPORTED"


class OwnerStepNotHere(DomainError):
    status_code = 403
    error_code = "OWNER_APPROVAL_ONLY"


def approval_step(value) -> int:
    """The original's `step` (default 1): 1 is the operator's; 2, the owner's, is refused on the
    operators' route (the customer gives it); anything else is not a step."""
    if value in (None, "", 1, "1"):
        return OPS_STEP
    if value in (2, "2"):
        raise OwnerStepNotHere(
            "step 2 (owner_approval) is the miner owner's: given in the portal or at "
            "/api/v1/portal/approvals/<command_id>/approve",
            field="step",
        )
    raise ApprovalStepUnsupported(
        f"step {value!r}: this product has {len(APPROVAL_STEPS)} approval steps ({', '.join(APPROVAL_STEPS)})",
        field="step",
    )


def dual_approval(commands: list[Command]) -> bool:
    return any(c.owner_consent_required for c in commands)


def steps_required(commands: list[Command]) -> int:
    """2 when any command also needs its owner's approval, 1 when it needs the operator's, else 0."""
    if dual_approval(commands):
        return 2
    return 1 if any(c.approval_required for c in commands) else 0


def approvals_count(commands: list[Command]) -> int:
    people = {c.approved_by_id for c in commands if c.approved_by_id}
    return len(people | {c.owner_approved_by_id for c in commands if c.owner_approved_by_id})


# --- types and parameters ----------------------------------------------------------------------------

# original type (upper-cased) → (this project's type, original payload key → this project's param)
TYPES_IN: dict[str, tuple[str, dict[str, str]]] = {
    "REBOOT": (T.REBOOT, {}),
    "MINER_RESTART": (T.REBOOT, {}),
    "RESTART": (T.REBOOT, {}),
    "HASHING_DISABLE": (T.DISABLE_HASHING, {}),
    "DISABLE": (T.DISABLE_HASHING, {}),
    "STOP": (T.DISABLE_HASHING, {}),
    "HASHING_ENABLE": (T.ENABLE_HASHING, {}),
    "ENABLE": (T.ENABLE_HASHING, {}),
    "START": (T.ENABLE_HASHING, {}),
    "CHANGE_POOL": (T.SET_POOL, {"pool_url": "pool_url", "worker_name": "pool_user", "password": "pool_password"}),
    "POOL_SET": (T.SET_POOL, {"pool_url": "pool_url", "worker_name": "pool_user", "password": "pool_password"}),
    "SET_FREQ": (T.SET_FREQUENCY, {"frequency_mhz": "frequency"}),
    "SET_FREQUENCY": (T.SET_FREQUENCY, {"frequency_mhz": "frequency"}),
    "THERMAL_POLICY": (T.SET_FAN, {"fan_speed_pct": "speed"}),
    "SET_FAN": (T.SET_FAN, {"fan_speed_pct": "speed"}),
}
# Original keys that say nothing this product acts on (reboot mode, fan mode, thresholds).
IGNORED_KEYS = {"mode", "profile", "fan_mode", "temp_warning_c", "temp_critical_c"}
NOT_CARRIED = {"POWER_MODE", "LED", "DEVICE_REBOOT", "ROLLBACK"}
#: the names command_in takes: this project's, and the original's in upper or lower case
NAMES_IN = sorted({*T.values, *TYPES_IN, *(name.lower() for name in TYPES_IN)})
TYPES_OUT: dict[str, str] = {
    T.REBOOT: "REBOOT",
    T.DISABLE_HASHING: "HASHING_DISABLE",
    T.ENABLE_HASHING: "HASHING_ENABLE",
    T.SET_POOL: "CHANGE_POOL",
    T.SET_FREQUENCY: "SET_FREQ",
    T.SET_FAN: "THERMAL_POLICY",
    T.POWER_OFF: "POWER_OFF",
    T.POWER_ON: "POWER_ON",
}


def command_in(command_type, payload) -> tuple[str, dict]:
    """(type, params) of this project for the original's command_type and payload; this project's
    own type names and params are accepted as they are."""
    if not isinstance(command_type, str) or not command_type:
        raise InvalidParams("command_type", "required")
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise InvalidParams("payload", "an object is required")
    if command_type in T.values:
        return command_type, payload
    name = command_type.upper()
    if name in NOT_CARRIED:
        raise InvalidParams("command_type", f"{command_type} is not a command this product sends to miners")
    if command_type not in NAMES_IN:
        raise InvalidParams("command_type", f"unknown type {command_type!r}; one of {', '.join(sorted(TYPES_IN))}")
    ours, keys = TYPES_IN[name]
    out = {}
    for key, value in payload.items():
        if key in keys:
            out[keys[key]] = value
        elif key in command_params.param_names(ours):
            out[key] = value
        elif key not in IGNORED_KEYS:
            raise InvalidParams(f"payload.{key}", f"not a parameter of {command_type}")
    return ours, out


# --- status ------------------------------------------------------------------------------------------

STATUS: dict[str, str] = {
    S.PROPOSED: "PENDING_APPROVAL",
    S.APPROVED: "QUEUED",
    S.QUEUED: "QUEUED",
    S.DISPATCHED: "RUNNING",
    S.RUNNING: "RUNNING",
    S.ACKED: "RUNNING",
    S.SUCCEEDED: "SUCCEEDED",
    S.ROLLED_BACK: "SUCCEEDED",
    S.FAILED: "FAILED",
    S.EXPIRED: "EXPIRED",
    S.CANCELED: "CANCELLED",
    S.REJECTED: "CANCELLED",
    S.SUPERSEDED: "CANCELLED",
}
STATES_BY_STATUS: dict[str, list[str]] = {}
for _state, _status in STATUS.items():
    STATES_BY_STATUS.setdefault(_status, []).append(_state)
STATES_BY_STATUS["PENDING"] = STATES_BY_STATUS["PENDING_APPROVAL"]
STATUSES = (*dict.fromkeys(STATUS.values()), "PENDING", "PARTIAL")
RESULT_STATUS = {"PENDING_APPROVAL": "PENDING", "QUEUED": "PENDING", "EXPIRED": "FAILED", "CANCELLED": "SKIPPED"}


def status_of(commands: list[Command]) -> str:
    """One status for the original command: the least advanced of its miners' while any is open;
    once all are finished, SUCCEEDED, PARTIAL (some succeeded), or the one way they ended."""
    statuses = {STATUS[c.state] for c in commands}
    for open_status in ("PENDING_APPROVAL", "QUEUED", "RUNNING"):
        if open_status in statuses:
            return open_status
    if statuses == {"SUCCEEDED"}:
        return "SUCCEEDED"
    if "SUCCEEDED" in statuses:
        return "PARTIAL"
    for end in ("FAILED", "EXPIRED", "CANCELLED"):
        if end in statuses:
            return end
    return "FAILED"


# --- the original command ------------------------------------------------------------------------------


def legacy_id(command: Command) -> str:
    return str(command.batch_id) if command.batch_id else str(command.pk)


def _ts(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _result(c: Command) -> dict:
    status = STATUS[c.state]
    return {
        "id": str(c.pk),
        "command_id": legacy_id(c),
        "edge_device_id": None,
        "miner_id": c.miner.miner_id,
        "started_at": None,
        "finished_at": _ts(c.finished_at),
        "result_status": RESULT_STATUS.get(status, status),
        "result_message": c.error_message or c.blocked_reason or None,
        "metrics": {},
        "created_at": _ts(c.created_at),
    }


def command_dict(commands: list[Command], *, include_results: bool = False) -> dict:
    """The original's RemoteCommand.to_dict for one original command (its commands, by pk)."""
    first = commands[0]
    approved = [c.approved_at for c in commands if c.approved_by_id and c.approved_at]
    status = status_of(commands)
    out: dict[str, Any] = {
        "id": legacy_id(first),
        "tenant_id": first.tenant.slug,
        "site_id": first.site.code,
        "zone_id": first.zone.code if first.zone else None,
        "customer_id": first.tenant.slug,
        "requested_by_user_id": first.created_by_id,
        "requested_by_role": "operator" if first.created_by_id else "system",
        "command_type": TYPES_OUT.get(first.command_type, first.command_type),
        "payload": command_params.redact(first.params),
        "target_scope": "GROUP" if first.group_id else "MINER",
        "target_ids": [c.miner.miner_id for c in commands],
        "status": status,
        "require_approval": any(c.approval_required for c in commands),
        "approved_by_user_id": next((c.approved_by_id for c in commands if c.approved_by_id), None),
        "approved_at": _ts(max(approved)) if approved else None,
        "expires_at": _ts(max(c.expires_at for c in commands)),
        "created_at": _ts(min(c.created_at for c in commands)),
        "updated_at": _ts(max(c.updated_at for c in commands)),
    }
    if include_results:
        results = [_result(c) for c in commands]
        out["results"] = results
        counts = [r["result_status"] for r in results]
        out["result_summary"] = {
            "total": len(counts),
            "succeeded": counts.count("SUCCEEDED"),
            "failed": counts.count("FAILED"),
            "pending": counts.count("PENDING") + counts.count("RUNNING"),
            "skipped": counts.count("SKIPPED"),
        }
    return out


def _decision(c: Command, step: int, user_id, decision: str, reason: str, at) -> dict:
    return {
        "command_id": legacy_id(c),
        "miner_id": c.miner.miner_id,
        "approver_user_id": user_id,
        "decision": decision,
        "reason": reason,
        "step": step,
        "step_name": APPROVAL_STEPS[step - 1],
        "created_at": _ts(at),
    }


def approvals(commands: list[Command]) -> list[dict]:
    """The original's CommandApproval rows: per command, the operator's decision (step 1) and the
    owner's (step 2), each once given. A rejection is the owner's when the owner denied it (their
    reason is kept), else the operator's."""
    out = []
    for c in commands:
        owner_denied = c.state == S.REJECTED and c.owner_consent_required and not c.owner_approved_by_id
        owner_denied = owner_denied and bool(c.owner_decided_reason)
        if c.approved_by_id:
            out.append(_decision(c, OPS_STEP, c.approved_by_id, "APPROVE", c.decided_reason, c.approved_at))
        elif c.state == S.REJECTED and not owner_denied:
            out.append(_decision(c, OPS_STEP, None, "DENY", c.decided_reason, c.updated_at))
        if c.owner_approved_by_id:
            out.append(
                _decision(c, OWNER_STEP, c.owner_approved_by_id, "APPROVE", c.owner_decided_reason, c.owner_approved_at)
            )
        elif owner_denied:
            out.append(_decision(c, OWNER_STEP, None, "DENY", c.owner_decided_reason, c.updated_at))
    return out


# --- requests ------------------------------------------------------------------------------------------


class ProposeIn(serializers.Serializer):
    """POST /api/v1/commands/propose and POST /api/sites/<id>/commands, as the original's clients sent them."""

    site_id = serializers.CharField(required=False, max_length=64)  # the original's numeric id (an alias) or code
    zone_id = serializers.CharField(required=False, allow_null=True, max_length=64)
    command_type = enum_command_type_field(NAMES_IN)
    payload = serializers.JSONField(required=False, default=dict)
    target_ids = serializers.ListField(
        child=serializers.CharField(max_length=128), allow_empty=False, min_length=1, max_length=5000
    )
    target_scope = serializers.CharField(required=False, max_length=16)
    ttl_seconds = serializers.IntegerField(required=False, min_value=1)
    idempotency_key = serializers.CharField(required=False, max_length=120)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class ListIn(serializers.Serializer):
    site_id = serializers.CharField(required=False, max_length=64)
    zone_id = serializers.CharField(required=False, max_length=64)
    status = serializers.ChoiceField(required=False, choices=STATUSES)
    limit = serializers.IntegerField(required=False, min_value=1, default=50)
    offset = offset_field()


class DecisionIn(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    step = serializers.JSONField(
        required=False,
        help_text="the original's step: 1 (operator); 2 (owner) is the customer's, in the portal",
    )
