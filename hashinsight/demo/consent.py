"""The demo's customer proposals (docs/PORTAL.md "Request an action"): Acme's and Blue River's
customers may propose a reboot of their own miners (ConsentPolicy.customer_types; no owner-consent
types, so the Overheat story stays the NOC's alone), and Acme's customer has asked for one, which
waits for an operator (the portal's Approvals page, *Commands* in the admin) until
COMMAND_APPROVAL_TTL_SEC passes.

Idempotent: a tenant that has a policy keeps it as it is, and the example is asked only together
with Acme's new policy, so a second run (or an operator's own edits) changes nothing."""

from audit.services import Actor
from control.models import Command, ConsentPolicy
from control.models.commands import ACTIVE_STATES
from control.services import owner_proposals
from core.errors import DomainError
from hosting.models import DowntimeInterval
from tenants.models import Miner, Role, RoleGrant, Tenant
from tenants.services import inventory_save

CUSTOMER_TYPES = ["reboot"]
TENANTS = ("acme", "blue-river")
EXAMPLE_SITE = "SITE-ACC"
EXAMPLE_REASON = "hashrate has been low since the night: please reboot it"


def _example_miner(tenant: Tenant) -> Miner | None:
    """One of the tenant's miners at the example site with nothing going on: no command in flight,
    not down now (the scenario's own miners keep their story)."""
    busy = Command.objects.filter(state__in=sorted(ACTIVE_STATES)).values("miner_id")
    down = DowntimeInterval.objects.filter(ended_at__isnull=True).values("miner_id")
    return (
        Miner.objects.filter(tenant=tenant, site__code=EXAMPLE_SITE)
        .exclude(pk__in=busy)
        .exclude(pk__in=down)
        .order_by("-miner_id")
        .first()
    )


def demo_consent_seed() -> list[str]:
    """The policies, then the example proposal; lines saying what was done (none on a second run)."""
    actor = Actor.system("seed_demo_history")
    lines, created = [], []
    for tenant in Tenant.objects.filter(slug__in=TENANTS).order_by("slug"):
        if ConsentPolicy.objects.filter(tenant=tenant).exists():
            continue
        inventory_save(actor=actor, obj=ConsentPolicy(tenant=tenant, customer_types=CUSTOMER_TYPES))
        created.append(tenant)
    if created:
        names = " and ".join(t.name for t in created)
        lines.append(f"Consent policy: {names} customers may propose {', '.join(CUSTOMER_TYPES)} (portal: Approvals)")
    acme = next((t for t in created if t.slug == "acme"), None)
    if acme is None:
        return lines
    grant = RoleGrant.objects.filter(tenant=acme, role=Role.CUSTOMER).select_related("user").order_by("pk").first()
    miner = _example_miner(acme)
    if grant is None or miner is None:
        return lines
    try:
        command = owner_proposals.command_owner_propose(
            actor=Actor.user(grant.user),
            user=grant.user,
            miner=miner,
            command_type="reboot",
            reason=EXAMPLE_REASON,
        )
    except DomainError as exc:  # a guardrail of the moment (blast radius, rate): the demo goes on without it
        lines.append(f"Example proposal not made: {exc.message}")
        return lines
    lines.append(
        f"{grant.user.get_username()} asked for a reboot of {miner.miner_id} (command #{command.pk}, proposed: "
        "approve it in the admin as an operator)"
    )
    return lines
