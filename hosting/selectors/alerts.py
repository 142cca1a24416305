"""Alert reads, scoped (SPEC §2, §9): a platform user sees all; an operator the alerts of the miners
they see and the site alerts of their sites; a customer the alerts of their tenants' miners and the
collector-dark alerts of the sites their miners are at (their minutes there are unmeasured while it
lasts). Other site alerts are the operator's business: their titles may name anyone's rack."""

from django.db.models import Q, QuerySet

from hosting.models import Alert, AlertState
from hosting.services.alerts import COLLECTOR_DARK
from tenants import scoping
from tenants.scoping import Capability

LIST_RELATED = ("site", "miner", "tenant", "acknowledged_by")


def alerts_for(user, capability: str = Capability.VIEW) -> QuerySet[Alert]:
    scope = scoping.scope_for(user)
    qs = Alert.objects.all()
    if scope.is_platform:
        return qs
    if scope.is_operator:
        return qs.filter(scoping.miner_or_site_q(user, capability))
    if scope.has_customer_side and capability == Capability.VIEW:
        return qs.filter(
            scope.customer_miner_q(tenant_field="tenant_id", miner_field="miner_id")
            | Q(miner__isnull=True, kind=COLLECTOR_DARK, site__in=scoping.sites_for(user))
        )
    return qs.none()


def alert_list(user, *, state: str | None = None, severity: str | None = None, site=None, miner=None):
    qs = alerts_for(user).select_related(*LIST_RELATED)
    if state:
        qs = qs.filter(state=state)
    if severity:
        qs = qs.filter(severity=severity)
    if site is not None:
        qs = qs.filter(site=site)
    if miner is not None:
        qs = qs.filter(miner=miner)
    return qs.order_by("-fired_at", "-id")


def alert_get(user, pk) -> Alert:
    return scoping.object_get(alerts_for(user).select_related(*LIST_RELATED), pk)


# --- for the rule engine (system reads, no user scope) -----------------------------------------------


def alert_live(dedupe_key: str) -> Alert | None:
    """The live (not resolved) alert with this dedupe key, if any."""
    return Alert.objects.select_related("site").exclude(state=AlertState.RESOLVED).filter(dedupe_key=dedupe_key).first()


def site_is_dark(site) -> bool:
    """Is one of the site's collectors dark right now (a live collector_dark alert)? Then its miners
    are unknown, and that one site alert stands for them all."""
    return Alert.objects.filter(site=site, kind=COLLECTOR_DARK).exclude(state=AlertState.RESOLVED).exists()
