"""Reading the audit log by what it is about."""

from django.db.models import Q, QuerySet

from audit.models import AuditEvent
from audit.services import REFS_KEY, entity_ref_key


def events_about(entity_type: str, entity_id, *, chains: list[str]) -> QuerySet[AuditEvent]:
    """The events of `chains` whose entity is this one, or that name it among their `refs` (one event
    about many entities), in the order they happened."""
    named = {f"payload__{REFS_KEY}__contains": [entity_ref_key(entity_type, entity_id)]}
    # has_key too: it is the partial GIN index's condition (audit_refs_idx), so the planner may use it.
    about = Q(entity_type=entity_type, entity_id=str(entity_id)) | Q(payload__has_key=REFS_KEY, **named)
    return AuditEvent.objects.filter(about, chain_key__in=chains).order_by("occurred_at", "seq")
