"""A customer proposes a command on one of its own miners (the original portal's requests)."""

from django.db import transaction
from django.utils import timezone

from audit.services import Actor
from control.errors import InvalidParams, NotYours
from control.models import Command, ConsentPolicy, PriorityClass
from control.services.consent import consent_event, is_owner
from control.services.creation import _create
from control.services.params import command_spec, reason_required
from tenants.models import Miner


@transaction.atomic
def command_owner_propose(
    *, actor: Actor, user, miner: Miner, command_type: str, params=None, reason: str = ""
) -> Command:
    """Of a type the tenant's policy lets customers propose; created `proposed` with the owner's
    step given by proposing it (audited as consent), it waits for an operator's approval: a
    customer holds no APPROVE capability, and the requester never approves their own command."""
    reason = reason_required(reason, "propose")
    if user is None or not is_owner(user, miner.tenant_id):
        raise NotYours("no such miner")
    policy = ConsentPolicy.objects.filter(tenant_id=miner.tenant_id).first()
    spec = command_spec(
        miners=[miner],
        command_type=command_type,
        params=params,
        priority_class=PriorityClass.CONVENIENCE,
        priority=0,
        reason=reason,
        ttl_sec=None,
        emergency=False,
        dedupe_key=None,
        evidence={"proposed_by_owner": user.pk},
        created_by_system="",
        rule_id=None,
        batch_id=None,
        group=None,
        approval_required=True,
    )
    if policy is None or spec.command_type not in policy.customer_types:
        raise InvalidParams("command_type", "your tenant's policy does not let customers propose this command")
    result = _create(actor=actor, user=user, miners=[miner], spec=spec, is_batch=False)
    if not result.created:
        raise InvalidParams("miner_id", result.skipped[0].reason if result.skipped else "not created")
    command = result.created[0]
    now = timezone.now()
    command.owner_consent_required = True
    command.owner_approved_by, command.owner_approved_at, command.owner_decided_reason = user, now, reason
    command.save(
        update_fields=["owner_consent_required", "owner_approved_by", "owner_approved_at", "owner_decided_reason"]
    )
    consent_event(actor, command, "owner_approved", user, reason)
    return command
