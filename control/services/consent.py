"""Customer consent: the owner's approval step (SPEC §6 item 9, §10; docs/COMPATIBILITY.md
"Approval steps").

A tenant's ConsentPolicy names the command types that also need the owner's approval on its
miners. Such a command is created `proposed` and is queued only once BOTH steps are given, in
either order: the operator's (control.services.decisions.command_approve) and the owner's (a
user with a customer grant on the miner's tenant, here). A denial by either side rejects it.
Neither step may be given by the requester, and one person never gives both. Safety and
Compliance/DR commands (safety protection, curtailment orders the hosting contract obliges the
operator to follow) are exempt: the owner cannot veto them. Every consent decision is an audit
event on the tenant's (the customer's) chain, which the evidence pack exports in full."""

import datetime as dt

from django.db import transaction
from django.utils import timezone

from audit.services import Actor, EventSpec, audit_record_many
from control.errors import ApprovalExpired, BatchNotDecidable, InvalidTransition, NotYours, SelfApproval
from control.models import Command, ConsentPolicy, PriorityClass
from control.services.params import S, reason_required
from control.services.transitions import command_lock, command_transition
from core.errors import Forbidden
from tenants.models import Miner
from tenants.scoping import scope_for

# Classes the owner cannot hold back: protection and grid/compliance orders.
EXEMPT_CLASSES = frozenset({PriorityClass.SAFETY, PriorityClass.COMPLIANCE})
OWNER_STEP = "owner_approval"


def consent_types(tenant_ids) -> dict[int, set[str]]:
    """tenant pk → the command types that need its owner's approval (tenants without a policy absent)."""
    return {
        p.tenant_id: set(p.consent_types)
        for p in ConsentPolicy.objects.filter(tenant_id__in=set(tenant_ids)).only("tenant_id", "consent_types")
    }


def owner_consent_tenants(command_type: str, priority_class: int, miners: list[Miner]) -> set[int]:
    """The tenants among `miners`' whose policy asks for the owner's step on this command."""
    if priority_class in EXEMPT_CLASSES:
        return set()
    policies = consent_types(m.tenant_id for m in miners)
    return {t for t, types in policies.items() if command_type in types}


def is_owner(user, tenant_id: int) -> bool:
    """A customer grant on the tenant (Role.CUSTOMER): the role that gives or refuses consent."""
    return user is not None and tenant_id in scope_for(user).customer_tenant_ids


def _owner_command(user, command: Command) -> Command:
    """Lock the command for its owner's decision; another tenant's command is NOT_FOUND (leaks nothing)."""
    if user is None:
        raise Forbidden("consent needs a person")
    command = command_lock(command.pk)
    if not is_owner(user, command.tenant_id):
        raise NotYours("no such command")
    if command.state != S.PROPOSED or not command.owner_consent_required or command.owner_approved_by_id:
        raise InvalidTransition(
            f"command {command.pk} is not waiting for the owner's approval", command_id=command.pk, state=command.state
        )
    if command.created_by_id == user.pk or command.approved_by_id == user.pk:
        raise SelfApproval("the requester or the operator who approved cannot also give the owner's approval")
    return command


def consent_spec(command: Command, action: str, user, reason: str) -> EventSpec:
    return EventSpec(
        f"control.command.{action}",
        "control.command",
        str(command.pk),
        {
            "step": OWNER_STEP,
            "by": user.pk,
            "reason": reason,
            "command_type": command.command_type,
            "miner": command.miner_id,
        },
        command.tenant_id,
        command.site.code,
    )


def consent_event(actor: Actor, command: Command, action: str, user, reason: str) -> None:
    audit_record_many(actor=actor, events=[consent_spec(command, action, user, reason)])


def release_approved(command: Command, *, actor: Actor, now) -> None:
    """Both steps given: proposed → approved → queued (the TTL starts now)."""
    command_transition(
        command,
        to=S.APPROVED,
        actor=actor,
        reason=command.decided_reason,
        audit_details={"owner_approved_by": command.owner_approved_by_id},
        approved_at=command.approved_at or now,
    )
    command_transition(
        command, to=S.QUEUED, actor=actor, reason="approved", expires_at=now + dt.timedelta(seconds=command.ttl_sec)
    )


def command_owner_approve(*, actor: Actor, user, command: Command, reason: str) -> Command:
    """The owner's step. Queues the command when the operator's step is already given."""
    reason = reason_required(reason, "approve")
    with transaction.atomic():
        command = _owner_command(user, command)
        now = timezone.now()
        if command.approval_expires_at is not None and command.approval_expires_at <= now:
            command_transition(
                command, to=S.EXPIRED, actor=actor, reason="approval window lapsed", error_code="APPROVAL_EXPIRED"
            )
            expired = True
        else:
            expired = False
            command.owner_approved_by = user
            command.owner_approved_at = now
            command.owner_decided_reason = reason
            command.updated_at = now
            command.save(update_fields=["owner_approved_by", "owner_approved_at", "owner_decided_reason", "updated_at"])
            consent_event(actor, command, "owner_approved", user, reason)
            if command.approved_by_id is not None:
                release_approved(command, actor=actor, now=now)
    if expired:
        raise ApprovalExpired(f"command {command.pk}: approval window lapsed", command_id=command.pk)
    return command


@transaction.atomic
def command_owner_deny(*, actor: Actor, user, command: Command, reason: str) -> Command:
    """The owner refuses: proposed → rejected, never dispatched."""
    reason = reason_required(reason, "deny")
    command = _owner_command(user, command)
    consent_event(actor, command, "owner_denied", user, reason)
    # the operator's reason stays when they had approved; else the refusal is the decision
    decided = command.decided_reason if command.approved_by_id else reason
    return command_transition(
        command,
        to=S.REJECTED,
        actor=actor,
        reason=reason,
        audit_details={"step": OWNER_STEP},
        owner_decided_reason=reason,
        decided_reason=decided,
    )


def _undecidable(user, c: Command, now) -> str:
    """Why the owner cannot decide `c` now ("" when they can)."""
    if c.state != S.PROPOSED:
        return f"it is {c.state}"
    if c.created_by_id == user.pk or c.approved_by_id == user.pk:
        return "you requested it, or approved it as its operator"
    if c.approval_expires_at is not None and c.approval_expires_at <= now:
        return "its approval window lapsed"
    return ""


def command_owner_decide_batch(*, actor: Actor, user, commands: list[Command], approve: bool, reason: str):
    """The owner's decision on a batch's commands that need it (`commands`: those of one tenant with
    owner_consent_required), all in one transaction: every one not yet approved by its owner is
    decided, or none is — BATCH_NOT_DECIDABLE names each that cannot be (the operator denied it
    meanwhile, its window lapsed, …). Those the owner approved already are left as they are."""
    reason = reason_required(reason, "approve" if approve else "deny")
    if user is None:
        raise Forbidden("consent needs a person")
    decide = command_owner_approve if approve else command_owner_deny
    with transaction.atomic():
        # Lock the whole batch (pk order) before deciding any: an operator's decision or another
        # owner's on the same batch cannot land between two of ours, and overlapping batches cannot deadlock.
        locked = list(
            Command.objects.select_for_update(of=("self",))
            .select_related("site")
            .filter(pk__in=[c.pk for c in commands], owner_consent_required=True)
            .order_by("pk")
        )
        if any(not is_owner(user, c.tenant_id) for c in locked):
            raise NotYours("no such command")
        todo = [c for c in locked if c.owner_approved_by_id is None]
        if not todo or all(c.state != S.PROPOSED for c in todo):
            raise InvalidTransition("this command is not waiting for your approval")
        now = timezone.now()
        problems = {str(c.pk): why for c in todo if (why := _undecidable(user, c, now))}
        if problems:
            listed = "; ".join(f"#{pk}: {why}" for pk, why in problems.items())
            raise BatchNotDecidable(
                f"{len(problems)} of the batch's {len(todo)} commands cannot be decided ({listed}); none was",
                commands=problems,
            )
        return [decide(actor=actor, user=user, command=c, reason=reason) for c in todo]
