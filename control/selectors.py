"""Which commands a person may see or act on: the one choke point for commands (API, admin, exports).

Built on tenants.scoping's UserScope: operators see the commands of the sites and zones they are
granted; a Customer sees the commands whose tenant is theirs (the tenant at creation time, so a
miner moving to another customer never shows the previous owner's commands)."""

from django.db.models import Q, QuerySet

from control.models import Command, EdgeSafetyEvent
from tenants import scoping
from tenants.scoping import Capability, scope_for


def commands_for(user, capability: str = Capability.VIEW) -> QuerySet[Command]:
    scope = scope_for(user)
    qs = Command.objects.all()
    if scope.is_platform or capability in scope.all_sites:
        return qs
    cond = Q(site__in=scope.site_ids.get(capability, ())) | Q(zone__in=scope.zone_ids.get(capability, ()))
    if capability == Capability.VIEW and scope.customer_tenant_ids:
        cond |= Q(tenant__in=scope.customer_tenant_ids)
    return qs.filter(cond)


def safety_events_for(user, capability: str = Capability.VIEW) -> QuerySet[EdgeSafetyEvent]:
    """The edge's own safety actions: operators of the site (or of the miner's zone) only — they
    report on a site's machines, not on a customer's account."""
    scope = scope_for(user)
    if not scope.is_operator:
        return EdgeSafetyEvent.objects.none()
    return EdgeSafetyEvent.objects.filter(scoping.miner_or_site_q(user, capability))


def command_get_for(user, pk, capability: str = Capability.VIEW) -> Command | None:
    """The command if the user may see it, else None — the caller answers 403 either way (SPEC §2)."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    return commands_for(user, capability).select_related("site", "miner", "tenant", "zone").filter(pk=pk).first()


def command_events(command: Command):
    """The command's audit timeline (created → approved → queued → dispatched → acked → …), from
    its own chains only."""
    from audit.models import AuditEvent

    chains = [f"tenant:{command.tenant_id}", f"site:{command.site.code}"]
    return AuditEvent.objects.filter(
        entity_type="control.command", entity_id=str(command.pk), chain_key__in=chains
    ).order_by("occurred_at", "seq")
