"""Approval, rejection, cancel and the expiry of proposals nobody approved in time (SPEC §6.2)."""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from control.errors import ApprovalExpired, InvalidTransition, SelfApproval
from control.models import LEASED_STATES, Command, CommandAttempt
from control.services.consent import release_approved
from control.services.params import (
    CANCELABLE_STATES,
    S,
    reason_required,
    require_capability,
)
from control.services.transitions import command_lock, command_transition, command_transition_many
from core.errors import Forbidden
from tenants.scoping import Capability

# --- approval, rejection, cancel -------------------------------------------------------------------


def command_approve(*, actor: Actor, user, command: Command, reason: str) -> Command:
    """proposed → approved → queued (two audited transitions; the TTL starts now). The approver
    needs APPROVE on the miner and must not be the requester (SELF_APPROVAL). A proposal past its
    approval window expires instead (APPROVAL_EXPIRED) — that expiry is committed, hence the
    explicit atomic block rather than the decorator."""
    reason = reason_required(reason, "approve")
    with transaction.atomic():
        command = command_lock(command.pk)
        require_capability(user, Capability.APPROVE, [command.miner])
        if command.state != S.PROPOSED:
            raise InvalidTransition(
                f"command {command.pk} is {command.state}, not proposed", command_id=command.pk, state=command.state
            )
        if user is None:
            raise Forbidden("approval needs a person")
        if command.created_by_id == user.pk:
            raise SelfApproval("the requester cannot approve their own command")
        now = timezone.now()
        if command.approval_expires_at is not None and command.approval_expires_at <= now:
            command_transition(
                command, to=S.EXPIRED, actor=actor, reason="approval window lapsed", error_code="APPROVAL_EXPIRED"
            )
            expired = True
        elif command.owner_consent_required:
            _operator_step(actor=actor, user=user, command=command, reason=reason, now=now)
            expired = False
        else:
            command_transition(
                command,
                to=S.APPROVED,
                actor=actor,
                reason=reason,
                approved_by=user,
                approved_at=now,
                decided_reason=reason,
            )
            command_transition(
                command,
                to=S.QUEUED,
                actor=actor,
                reason="approved",
                expires_at=now + dt.timedelta(seconds=command.ttl_sec),
            )
            expired = False
    if expired:
        raise ApprovalExpired(
            f"command {command.pk}: approval window lapsed at {command.approval_expires_at:%Y-%m-%dT%H:%M:%SZ}",
            command_id=command.pk,
        )
    return command


def _operator_step(*, actor: Actor, user, command: Command, reason: str, now) -> None:
    """The operator's step on a command that also needs its owner's: recorded (audited on the
    tenant's chain); the command is queued only once the owner has approved too (control.services.consent)."""
    if command.approved_by_id is not None:
        raise InvalidTransition(
            f"command {command.pk} already has the operator's approval; it waits for the owner's",
            command_id=command.pk,
            state=command.state,
        )
    if command.owner_approved_by_id == user.pk:
        raise SelfApproval("the owner who approved cannot also give the operator's approval")
    command.approved_by, command.approved_at, command.decided_reason, command.updated_at = user, now, reason, now
    command.save(update_fields=["approved_by", "approved_at", "decided_reason", "updated_at"])
    audit_record(
        actor=actor,
        action="control.command.operator_approved",
        entity_type="control.command",
        entity_id=str(command.pk),
        payload={"step": "ops_approval", "by": user.pk, "reason": reason, "waits_for": "owner_approval"},
        tenant_id=command.tenant_id,
        site_code=command.site.code,
    )
    if command.owner_approved_by_id is not None:
        release_approved(command, actor=actor, now=now)


@transaction.atomic
def commands_approve_given(*, actor: Actor, commands: list[Command], approver, reason: str) -> list[Command]:
    """proposed → approved → queued for commands the system created under an approval a person
    already gave on the order they come from (a curtailment approved by someone other than its
    requester): `approver` is recorded on each, in the same two audited transitions as
    command_approve. The caller holds the rows (it created them in this transaction)."""
    proposed = [c for c in commands if c.state == S.PROPOSED]
    if not proposed:
        return commands
    if approver is None:
        raise Forbidden("approval needs a person")
    now = timezone.now()
    command_transition_many(
        proposed,
        to=S.APPROVED,
        actor=actor,
        reason=reason,
        changes=lambda c: {"approved_by": approver, "approved_at": now, "decided_reason": reason},
        audit_details=lambda c: {"approved_by": approver.pk},
    )
    command_transition_many(
        proposed,
        to=S.QUEUED,
        actor=actor,
        reason="approved",
        changes=lambda c: {"expires_at": now + dt.timedelta(seconds=c.ttl_sec)},
    )
    return commands


@transaction.atomic
def command_reject(*, actor: Actor, user, command: Command, reason: str) -> Command:
    """proposed → rejected, with the approver's reason (an approver's decision, not an edge refusal)."""
    reason = reason_required(reason, "reject")
    command = command_lock(command.pk)
    require_capability(user, Capability.APPROVE, [command.miner])
    return command_transition(command, to=S.REJECTED, actor=actor, reason=reason, decided_reason=reason)


@transaction.atomic
def command_cancel(*, actor: Actor, user, command: Command, reason: str = "") -> Command:
    """proposed/approved/queued → canceled; a dispatched (leased) one only with a reason: the edge may
    already be executing it, the cloud stops waiting for it and records a late ACK as evidence."""
    command = command_lock(command.pk)
    require_capability(user, Capability.OPERATE, [command.miner])
    if command.state not in CANCELABLE_STATES:
        raise InvalidTransition(
            f"command {command.pk} is {command.state}; it can no longer be canceled",
            command_id=command.pk,
            state=command.state,
        )
    details = {}
    if command.state in LEASED_STATES:
        reason = reason_required(reason, "cancel a leased command")
        details = {"was_leased": True, "edge_may_still_execute": True, "lease_epoch": command.lease_epoch}
        CommandAttempt.objects.filter(command=command, lease_ended_at__isnull=True).update(
            lease_ended_at=timezone.now(), lease_end_reason="canceled"
        )
    return command_transition(command, to=S.CANCELED, actor=actor, reason=reason or "canceled", audit_details=details)


def command_proposals_expire(*, actor: Actor | None = None, now=None, limit: int = 1000) -> int:
    """Expire proposals whose approval window lapsed (a beat job calls this). Safe to run twice and
    beside other workers: rows are claimed with SKIP LOCKED."""
    actor = actor or Actor.system("control.proposals_expire")
    now = now or timezone.now()
    n = 0
    with transaction.atomic():
        due = (
            Command.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("site")
            .filter(state=S.PROPOSED, approval_expires_at__lte=now)
            .order_by("pk")[:limit]
        )
        for command in due:
            command_transition(
                command, to=S.EXPIRED, actor=actor, reason="approval window lapsed", error_code="APPROVAL_EXPIRED"
            )
            n += 1
    return n
