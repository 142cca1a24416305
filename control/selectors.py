"""Which commands a person may see or act on: the one choke point for commands (API, admin, exports).

Built on tenants.scoping's UserScope: operators see the commands of the sites and zones they are
granted; a Customer sees the commands whose tenant is theirs (the tenant at creation time, so a
miner moving to another customer never shows the previous owner's commands)."""

import uuid

from django.db.models import CharField, Count, Min, Q, QuerySet
from django.db.models.functions import Cast, Coalesce

from control.models import Command, CommandAck, CommandState, ConsentPolicy, Curtailment, EdgeSafetyEvent
from tenants import scoping
from tenants.scoping import Capability, scope_for


def commands_for(user, capability: str = Capability.VIEW) -> QuerySet[Command]:
    scope = scope_for(user)
    qs = Command.objects.all()
    if scope.is_platform or capability in scope.all_sites:
        return qs
    cond = Q(site__in=scope.site_ids.get(capability, ())) | Q(zone__in=scope.zone_ids.get(capability, ()))
    if capability == Capability.VIEW and scope.has_customer_side:
        cond |= scope.customer_miner_q(tenant_field="tenant", miner_field="miner")
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


# --- the original application's command: a batch, or one command without a batch -------------------

GROUP_RELATED = ("site", "zone", "miner", "tenant")


def legacy_group_q(command_id: str) -> Q | None:
    """The commands the original's command id names: a batch's UUID, or one command's integer id."""
    try:
        return Q(batch_id=uuid.UUID(str(command_id)))
    except ValueError:
        pass
    try:
        return Q(pk=int(command_id), batch_id__isnull=True)
    except (TypeError, ValueError):
        return None


def legacy_group_get(user, command_id: str, capability: str = Capability.VIEW) -> list[Command]:
    """The original command's commands the user may see, by pk ([] for missing or out of scope)."""
    q = legacy_group_q(command_id)
    if q is None:
        return []
    return list(commands_for(user, capability).select_related(*GROUP_RELATED).filter(q).order_by("pk"))


def legacy_groups_page(qs: QuerySet[Command], *, offset: int, limit: int) -> tuple[int, list[list[Command]]]:
    """(number of original commands, one page of them newest first) from a command queryset."""
    keyed = qs.annotate(legacy_key=Coalesce(Cast("batch_id", CharField()), Cast("pk", CharField())))
    groups = keyed.order_by().values("legacy_key").annotate(first=Min("created_at"), low=Min("pk"))
    total = groups.count()
    page = list(groups.order_by("-first", "-low")[offset : offset + limit])
    keys = [g["legacy_key"] for g in page]
    rows = keyed.filter(legacy_key__in=keys).select_related(*GROUP_RELATED).order_by("pk")
    by_key: dict[str, list[Command]] = {}
    for c in rows:
        by_key.setdefault(c.legacy_key, []).append(c)
    return total, [by_key[k] for k in keys if k in by_key]


def command_events(command: Command):
    """The command's audit timeline (created → approved → queued → dispatched → acked → …), from
    its own chains only."""
    from audit.selectors import events_about

    chains = [f"tenant:{command.tenant_id}", f"site:{command.site.code}"]
    return events_about("control.command", command.pk, chains=chains)


def curtailments_for(user, capability: str = Capability.VIEW) -> QuerySet[Curtailment]:
    """Curtailments are operators' site-level orders: only operator grants see them (a Customer's
    tenant does not), at the sites they are granted or, for a zone grant, those scoped to the zone."""
    scope = scope_for(user)
    qs = Curtailment.objects.select_related("site", "zone", "group", "created_by", "approved_by")
    if scope.is_platform or capability in scope.all_sites:
        return qs
    cond = Q(site__in=scope.site_ids.get(capability, ())) | Q(zone__in=scope.zone_ids.get(capability, ()))
    return qs.filter(cond)


def curtailment_commands(c: Curtailment) -> QuerySet[Command]:
    """The curtailment's disable and enable commands (its two batches)."""
    batches = [b for b in (c.disable_batch_id, c.enable_batch_id) if b]
    return Command.objects.filter(batch_id__in=batches) if batches else Command.objects.none()


def curtailment_command_counts(c: Curtailment) -> dict[str, dict[str, int]]:
    """{"disable_hashing": {state: n}, "enable_hashing": {state: n}} for the curtailment's commands."""
    out: dict[str, dict[str, int]] = {"disable_hashing": {}, "enable_hashing": {}}
    rows = curtailment_commands(c).values("command_type", "state").annotate(n=Count("id")).order_by()
    for row in rows:
        out.setdefault(row["command_type"], {})[row["state"]] = row["n"]
    return out


def acks_for(user, capability: str = Capability.VIEW) -> QuerySet[CommandAck]:
    """ACKs the user may read: those sent by collectors in their scope (operators only)."""
    from tenants.scoping import collectors_for

    return CommandAck.objects.filter(collector__in=collectors_for(user, capability).values("pk"))


def consent_policies_for(user, capability: str = Capability.VIEW) -> QuerySet[ConsentPolicy]:
    """Operators of a tenant's sites (scoping.tenants_for) see and edit its consent policy."""
    return ConsentPolicy.objects.filter(tenant__in=scoping.tenants_for(user, capability))


def owner_approvals_waiting(commands: QuerySet[Command]) -> QuerySet[Command]:
    """Those of `commands` waiting for their owner's approval (customer consent), oldest first."""
    return (
        commands.filter(state=CommandState.PROPOSED, owner_consent_required=True, owner_approved_by__isnull=True)
        .select_related("miner", "site", "tenant")
        .order_by("created_at", "pk")
    )


def pending_owner_approvals(user, tenant_ids=None) -> QuerySet[Command]:
    """Commands waiting for this customer's approval, on their tenants' miners."""
    mine = scope_for(user).customer_tenant_ids if user is not None else frozenset()
    if tenant_ids is not None:
        mine = mine & frozenset(tenant_ids)
    return owner_approvals_waiting(Command.objects.filter(tenant_id__in=mine))
