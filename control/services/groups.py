"""Decisions on the original application's command — the commands of one batch, or one command
(control.legacy_v1_shapes): each is the per-command service applied to every command of the
group it applies to, in one transaction (all or nothing)."""

import uuid

from django.db import transaction

from audit.services import Actor
from control.errors import InvalidTransition
from control.models import Command
from control.services import decisions, rollback
from control.services.params import CANCELABLE_STATES, S


def _pick(commands: list[Command], states, what: str) -> list[Command]:
    picked = [c for c in commands if c.state in states]
    if not picked:
        raise InvalidTransition(
            f"no command of this group can be {what} (states: {', '.join(sorted({c.state for c in commands}))})"
        )
    return picked


@transaction.atomic
def group_approve(*, actor: Actor, user, commands: list[Command], reason: str) -> list[Command]:
    """Approve every proposed command of the group (requester ≠ approver, as command_approve); those
    with the operator's step given already, waiting for their owner's, are left as they are."""
    waiting_for_owner = {c.pk for c in commands if c.state == S.PROPOSED and c.approved_by_id}
    for c in _pick([c for c in commands if c.pk not in waiting_for_owner], {S.PROPOSED}, "approved"):
        decisions.command_approve(actor=actor, user=user, command=c, reason=reason)
    return commands


@transaction.atomic
def group_reject(*, actor: Actor, user, commands: list[Command], reason: str) -> list[Command]:
    for c in _pick(commands, {S.PROPOSED}, "denied"):
        decisions.command_reject(actor=actor, user=user, command=c, reason=reason)
    return commands


@transaction.atomic
def group_cancel(*, actor: Actor, user, commands: list[Command], reason: str) -> list[Command]:
    """Cancel the group's commands that can still be canceled (not leased ones without a reason)."""
    for c in _pick(commands, CANCELABLE_STATES - {S.DISPATCHED} if not reason else CANCELABLE_STATES, "canceled"):
        decisions.command_cancel(actor=actor, user=user, command=c, reason=reason)
    return commands


@transaction.atomic
def group_rollback(*, actor: Actor, user, commands: list[Command], reason: str) -> tuple[uuid.UUID, list[Command]]:
    """Roll back every succeeded command of the group; the rollbacks share one new batch id."""
    batch_id = uuid.uuid4()
    created = [
        rollback.command_rollback(actor=actor, user=user, command=c, reason=reason, batch_id=batch_id)
        for c in _pick(commands, {S.SUCCEEDED}, "rolled back")
    ]
    return batch_id, created
