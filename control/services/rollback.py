"""Rollback: the inverse command of a finished one, from the ACK's before-snapshot (SPEC §6.4)."""

import uuid

from django.db import transaction

from audit.services import Actor
from control.errors import InvalidTransition, RollbackUnavailable
from control.models import Command
from control.services.creation import command_create
from control.services.params import (
    REVERSIBLE_TYPES,
    S,
    T,
    reason_required,
    require_capability,
)
from control.services.transitions import command_lock, command_transition
from tenants.scoping import Capability

# --- rollback --------------------------------------------------------------------------------------


def _ack_before(command: Command) -> dict:
    if command.before_snapshot:
        return command.before_snapshot
    attempt = command.attempts.exclude(before__isnull=True).order_by("-attempt", "-lease_epoch").first()
    return (attempt.before if attempt else None) or {}


def _previous(command: Command, key: str):
    """The value a previous succeeded command of the same type set on this miner."""
    earlier = (
        Command.objects.filter(
            miner_id=command.miner_id,
            command_type=command.command_type,
            state=S.SUCCEEDED,
            created_at__lt=command.created_at,
        )
        .order_by("-created_at")
        .values_list("params", flat=True)
    )
    return next((p[key] for p in earlier if key in p), None)


def rollback_plan(command: Command) -> tuple[str, dict, str]:
    """(type, params, source) of the command that undoes `command`, or ROLLBACK_UNAVAILABLE."""
    t = command.command_type
    if t not in REVERSIBLE_TYPES:
        raise RollbackUnavailable(f"{t} is not reversible")
    if t == T.DISABLE_HASHING:
        return T.ENABLE_HASHING, {}, "inverse"
    if t == T.ENABLE_HASHING:
        return T.DISABLE_HASHING, {}, "inverse"
    before, seen = _ack_before(command), (command.evidence or {}).get("before_telemetry") or {}
    if t == T.SET_FREQUENCY:
        if seen.get("frequency_avg"):
            return t, {"frequency": round(seen["frequency_avg"])}, "telemetry before the command"
        value = _previous(command, "frequency")
        if value is not None:
            return t, {"frequency": value}, "previous set_frequency"
        raise RollbackUnavailable(
            "the frequency before this command is unknown (no telemetry, no earlier set_frequency)"
        )
    if t == T.SET_FAN:
        # fan_speeds in snapshots are RPM, not the 0-100 setting: only an earlier set_fan tells it.
        value = _previous(command, "speed")
        if value is not None:
            return t, {"speed": value}, "previous set_fan"
        raise RollbackUnavailable("the fan setting before this command is unknown (no earlier set_fan)")
    # set_pool
    if "pool_id" in command.params:
        return t, {"pool_id": _previous(command, "pool_id") or 0}, "previous pool switch (or the first pool)"
    url, user = before.get("pool_url") or seen.get("pool_url"), before.get("worker_name") or seen.get("worker_name")
    if url and user:
        return (
            t,
            {"pool_url": url, "pool_user": user},
            "ACK before snapshot" if before.get("pool_url") else "telemetry before the command",
        )
    raise RollbackUnavailable("the pool before this command is unknown")


@transaction.atomic
def command_rollback(
    *,
    actor: Actor,
    user,
    command: Command,
    reason: str,
    priority_class: int | None = None,
    batch_id: uuid.UUID | None = None,
) -> Command:
    """Undo a succeeded reversible command with a linked command (rollback_of). The original goes to
    rolled_back at once, in the same transaction: a second rollback is refused, and the rollback
    command's own state tells whether the undo took effect. The rollback passes the same approval
    policy and guardrails as any command (rolling back enable_hashing is a disable: approval).
    `batch_id` links the rollbacks of one batch's commands (the original application's API)."""
    reason = reason_required(reason, "roll back")
    command = command_lock(command.pk)
    require_capability(user, Capability.OPERATE, [command.miner])
    if command.state != S.SUCCEEDED:
        raise InvalidTransition(
            f"command {command.pk} is {command.state}; only a succeeded command can be rolled back",
            command_id=command.pk,
            state=command.state,
        )
    new_type, params, source = rollback_plan(command)
    new = command_create(
        actor=actor,
        user=user,
        miner=command.miner,
        command_type=new_type,
        params=params,
        priority_class=command.priority_class if priority_class is None else priority_class,
        reason=reason,
        evidence={"rollback_source": source},
        rollback_of=command,
        batch_id=batch_id,
    )
    command_transition(
        command, to=S.ROLLED_BACK, actor=actor, reason=reason, audit_details={"rollback": new.pk, "source": source}
    )
    return new
