"""The edge channel, expiry side: lapsed leases go back to the queue or expire; commands waiting
past their TTL expire (a beat job, control.tasks)."""

import datetime as dt

import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import Actor
from control.models import (
    LEASED_STATES,
    Command,
    CommandAttempt,
    CommandState,
    Outcome,
)
from control.services.transitions import (
    command_transition_many,
)

logger = structlog.get_logger(__name__)

S = CommandState
SYSTEM = Actor.system("control.queue")

# --- lease expiry and TTL -------------------------------------------------------------------------


@transaction.atomic
def commands_expire_due(*, now: dt.datetime | None = None, batch: int = 1000) -> dict[str, int]:
    """Lapsed leases go back to the queue with the same wire id (an edge that already ran it
    answers `skipped`) while TTL and COMMAND_MAX_LEASES allow, else expire; commands waiting past
    their TTL expire. Rows another transaction holds are left for the next run."""
    now = now or timezone.now()
    lapsed = list(
        Command.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("site")
        .filter(state__in=LEASED_STATES, lease_until__lt=now)
        .order_by("pk")[:batch]
    )
    requeue = [c for c in lapsed if c.expires_at > now and c.lease_epoch < settings.COMMAND_MAX_LEASES]
    ended = [c for c in lapsed if c not in requeue]
    CommandAttempt.objects.filter(command__in=lapsed, lease_ended_at__isnull=True).update(
        lease_ended_at=now, lease_end_reason="lapsed"
    )
    free = {"lease_collector": None, "lease_device_id": "", "lease_until": None}

    def lapse_details(c):
        return {"wire_id": c.wire_id(), "lease_until": c.lease_until}

    command_transition_many(
        requeue,
        to=S.QUEUED,
        actor=SYSTEM,
        reason="lease lapsed without ACK: re-dispatch",
        changes=lambda c: free,
        audit_details=lapse_details,
    )
    expired = {
        "outcome": Outcome.TIMED_OUT,
        "error_code": "COMMAND_EXPIRED",
        "error_message": "no ACK before the command's TTL",
    }
    command_transition_many(
        ended,
        to=S.EXPIRED,
        actor=SYSTEM,
        reason="lease lapsed after TTL or lease cap",
        changes=lambda c: expired,
        audit_details=lapse_details,
    )
    waiting = list(
        Command.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("site")
        .filter(state__in=(S.PROPOSED, S.APPROVED, S.QUEUED), expires_at__lte=now)
        .order_by("pk")[:batch]
    )
    ttl = {"outcome": Outcome.TIMED_OUT, "error_code": "COMMAND_EXPIRED", "error_message": "TTL passed before dispatch"}
    command_transition_many(waiting, to=S.EXPIRED, actor=SYSTEM, reason="TTL passed", changes=lambda c: ttl)
    result = {"requeued": len(requeue), "expired_leased": len(ended), "expired_waiting": len(waiting)}
    if any(result.values()):
        logger.info("commands.expiry", **result)
    return result
