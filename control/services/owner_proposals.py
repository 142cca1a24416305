"""A customer proposes a command on their own miners (the original's POST /api/v1/commands/propose
with its customer ABAC, and the portal's "Request an action"). Which types a customer may propose
is the tenant's ConsentPolicy.customer_types: no policy, no proposals (SPEC §10: the portal is
read-only but for consent)."""

import uuid

from django.db import transaction
from django.utils import timezone

from audit.services import Actor, EventSpec, audit_record_many
from control.errors import InvalidParams, NotYours, ProposalNotAllowed
from control.models import Command, ConsentPolicy, PriorityClass
from control.services.consent import consent_spec, is_owner
from control.services.creation import CreateResult, _create
from control.services.params import command_spec, reason_required
from tenants.models import Miner


def customer_types(tenant_id: int) -> list[str]:
    """The command types this tenant's customers may propose (policy order)."""
    policy = ConsentPolicy.objects.filter(tenant_id=tenant_id).only("customer_types").first()
    return list(policy.customer_types) if policy else []


def _propose(
    *, actor: Actor, user, miners: list[Miner], command_type: str, params, reason: str, ttl_sec, dedupe_key, batch
) -> CreateResult:
    reason = reason_required(reason, "propose")
    if not miners:
        raise InvalidParams("target_ids", "at least one of your miners is required")
    if user is None or any(not is_owner(user, m.tenant_id) for m in miners):
        raise NotYours("no such miner")
    spec = command_spec(
        miners=miners,
        command_type=command_type,
        params=params,
        priority_class=PriorityClass.CONVENIENCE,
        priority=0,
        reason=reason,
        ttl_sec=ttl_sec,
        emergency=False,
        dedupe_key=dedupe_key,
        evidence={"proposed_by_owner": user.pk},
        created_by_system="",
        rule_id=None,
        batch_id=uuid.uuid4() if batch else None,
        group=None,
        approval_required=True,
    )
    allowed = {
        p.tenant_id: set(p.customer_types)
        for p in ConsentPolicy.objects.filter(tenant_id__in={m.tenant_id for m in miners})
    }
    if any(spec.command_type not in allowed.get(m.tenant_id, ()) for m in miners):
        raise ProposalNotAllowed(
            f"your tenant's consent policy does not let customers propose {spec.command_type}", field="command_type"
        )
    result = _create(actor=actor, user=user, miners=miners, spec=spec, is_batch=batch)
    if not result.created and not result.existing:
        raise InvalidParams("miner_id", result.skipped[0].reason if result.skipped else "not created")
    if result.created:
        # Proposing is the owner's step: given now, audited on the tenant's chain; an operator approves.
        now = timezone.now()
        Command.objects.filter(pk__in=[c.pk for c in result.created]).update(
            owner_consent_required=True, owner_approved_by=user, owner_approved_at=now, owner_decided_reason=reason
        )
        for c in result.created:
            c.owner_consent_required, c.owner_approved_by, c.owner_approved_at = True, user, now
            c.owner_decided_reason = reason
        audit_record_many(actor=actor, events=[consent_spec(c, "owner_approved", user, reason) for c in result.created])
    elif result.existing:
        result.batch_id = result.existing[0].batch_id
    return result


@transaction.atomic
def command_owner_propose(
    *, actor: Actor, user, miner: Miner, command_type: str, params=None, reason: str = ""
) -> Command:
    """One miner; created `proposed` with the owner's step given by proposing it (audited as
    consent), it waits for an operator's approval: a customer holds no APPROVE capability, and the
    requester never approves their own command."""
    result = _propose(
        actor=actor,
        user=user,
        miners=[miner],
        command_type=command_type,
        params=params,
        reason=reason,
        ttl_sec=None,
        dedupe_key=None,
        batch=False,
    )
    return (result.created or result.existing)[0]


@transaction.atomic
def command_owner_propose_batch(
    *,
    actor: Actor,
    user,
    miners: list[Miner],
    command_type: str,
    params=None,
    reason: str = "",
    ttl_sec: int | None = None,
    dedupe_key: str | None = None,
) -> CreateResult:
    """Several of the customer's miners, one command each linked by one batch id (the original's one
    command with target_ids); a replayed dedupe_key answers the existing commands."""
    return _propose(
        actor=actor,
        user=user,
        miners=miners,
        command_type=command_type,
        params=params,
        reason=reason,
        ttl_sec=ttl_sec,
        dedupe_key=dedupe_key,
        batch=True,
    )


@transaction.atomic
def command_owner_proposal_refuse(*, actor: Actor, user, tenant_ids, site_code: str, target_ids, why: str) -> None:
    """A customer asked for a command on miners that are not theirs (or a site they have none at):
    refused (403) and recorded on each of their own tenants' chains — what they sent, nothing of
    whose the miners are."""
    payload = {"by": user.pk, "site_id": site_code[:64], "target_ids": [str(t)[:128] for t in target_ids][:50]}
    audit_record_many(
        actor=actor,
        events=[
            EventSpec("control.command.proposal_refused", "tenants.tenant", str(t), payload | {"why": why}, t)
            for t in sorted(tenant_ids)
        ],
    )
