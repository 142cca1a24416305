"""The portal's reads: whose portal a person may open, and the figures of its pages.

Built on tenants.scoping, telemetry's selectors (state, history) and control's commands_for, so a
portal page shows exactly what the APIs would show the same person:

- a Customer opens the portal of their own tenants only;
- an operator opens any tenant they see (tenants_for: the tenants with miners at their sites),
  read-only, and sees that tenant's miners *at their own sites only* — a NOC of site X looking at
  tenant B sees B's miners at X, never site Y;
- anything else is 403 with the one FORBIDDEN message, whether the tenant exists or not.
"""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, F, FloatField, Max, Q, QuerySet, Sum, Value
from django.db.models.functions import Cast, NullIf
from django.utils import timezone

from control.models import Command
from control.selectors import commands_for
from core.errors import Forbidden
from telemetry import selectors as telemetry
from telemetry.selectors_history import history, tier_rows_for
from tenants import scoping
from tenants.models import Miner, Tenant
from tenants.scoping import FORBIDDEN_MESSAGE

ONLINE, OFFLINE, UNKNOWN = telemetry.ONLINE, telemetry.OFFLINE, telemetry.UNKNOWN


@dataclass(frozen=True)
class PortalView:
    """One tenant's portal as one person sees it."""

    tenant: Tenant
    as_operator: bool  # an operator looking in: read-only banner

    def miners(self, user) -> QuerySet[Miner]:
        return scoping.miners_for(user).filter(tenant=self.tenant)


def portal_tenants(user) -> QuerySet[Tenant]:
    """Tenants whose portal the user may open (the switcher's list)."""
    # Operators: tenants with miners in their scope; customers: their own tenants, whole or by
    # miner-group object grants (the miners within are scoped again by miners_for).
    return scoping.tenants_for(user).order_by("name")


def portal_view_get(user, slug: str) -> PortalView:
    tenant = portal_tenants(user).filter(slug=slug).first()
    if tenant is None:
        raise Forbidden(FORBIDDEN_MESSAGE)
    return PortalView(tenant=tenant, as_operator=scoping.scope_for(user).is_operator)


def portal_miner_get(user, view: PortalView, site_code: str, miner_id: str) -> Miner:
    """A miner of this portal's tenant, by its site code and edge id; 403 otherwise (existing or not)."""
    miner = view.miners(user).filter(site__code=site_code, miner_id=miner_id).select_related("site", "zone").first()
    if miner is None:
        raise Forbidden(FORBIDDEN_MESSAGE)
    return miner


# --- dashboard ----------------------------------------------------------------------------------------


def _ths(ghs) -> float:
    return round((ghs or 0.0) / 1000.0, 3)


def dashboard_figures(user, miners: QuerySet[Miner], *, now: dt.datetime | None = None) -> dict:
    """Counts per state, hashrate now vs nominal, per site — one grouped query over the miners
    (a PortalView's, or all the user sees for the legacy API)."""
    qs = telemetry.miners_with_state(user, miners, site_ids=miners.values("site_id"), now=now)
    groups = (
        qs.order_by()
        .values("site__code", "site__name", "state")
        .annotate(
            n=Count("pk"),
            hashrate=Sum("lv__hashrate_5s_ghs", filter=Q(state=ONLINE)),
            nominal=Sum("nominal_hashrate_ths"),
            power=Sum("nominal_power_w", filter=Q(state=ONLINE)),
            last=Max("lv__ts"),
        )
    )
    sites: dict[str, dict] = {}
    for g in groups:
        s = sites.setdefault(
            g["site__code"],
            {
                "code": g["site__code"],
                "name": g["site__name"],
                "miners": 0,
                ONLINE: 0,
                OFFLINE: 0,
                UNKNOWN: 0,
                "hashrate_ths": 0.0,
                "nominal_ths": 0.0,
                "online_nominal_power_w": 0,
                "last_sample_at": None,
            },
        )
        s[g["state"]] += g["n"]
        s["miners"] += g["n"]
        s["hashrate_ths"] += _ths(g["hashrate"])
        s["nominal_ths"] += float(g["nominal"] or 0)
        s["online_nominal_power_w"] += int(g["power"] or 0)
        if g["last"] is not None and (s["last_sample_at"] is None or g["last"] > s["last_sample_at"]):
            s["last_sample_at"] = g["last"]
    per_site = sorted(sites.values(), key=lambda s: s["code"])
    totals = {k: sum(s[k] for s in per_site) for k in ("miners", ONLINE, OFFLINE, UNKNOWN, "online_nominal_power_w")}
    totals["hashrate_ths"] = round(sum(s["hashrate_ths"] for s in per_site), 3)
    totals["nominal_ths"] = round(sum(s["nominal_ths"] for s in per_site), 3)
    for row in (*per_site, totals):
        row["hashrate_ths"] = round(row["hashrate_ths"], 3)
        row["of_nominal_pct"] = (
            round(100.0 * row["hashrate_ths"] / row["nominal_ths"], 1) if row["nominal_ths"] else None
        )
    return {"totals": totals, "sites": per_site}


def _bucket_mean_ghs():
    # A miner's mean current hashrate in the bucket; summed over miners it is the fleet's.
    return Cast(F("hashrate_5s_sum"), FloatField()) / NullIf(F("hashrate_5s_count"), 0)


def tenant_hashrate_series(user, view: PortalView, *, hours: int = 24, now: dt.datetime | None = None) -> list:
    """[(unix seconds, TH/s)] for the tenant's miners the user sees over the last `hours`: closed
    15-minute buckets from the 15m tier, then the minutes since the last one from the 1m tier
    (the 15m rollup runs behind ingest, so the newest quarter-hours live only in 1m)."""
    end = now or timezone.now()
    start = end - dt.timedelta(hours=hours)
    site_ids = list(view.miners(user).order_by().values_list("site_id", flat=True).distinct())
    if not site_ids:
        return []

    def summed(tier):
        return (
            tier_rows_for(user, tier)
            .filter(site_id__in=site_ids, tenant_id=view.tenant.pk, bucket__gte=start, bucket__lt=end)
            .order_by()
            .values("bucket")
            .annotate(ghs=Sum(_bucket_mean_ghs()))
            .order_by("bucket")
            .values_list("bucket", "ghs")
        )

    points = list(summed("15m"))
    tail_from = points[-1][0] + dt.timedelta(minutes=15) if points else start
    points += [p for p in summed("1m") if p[0] >= tail_from]
    return [(int(b.timestamp()), _ths(ghs)) for b, ghs in points]


# --- miner list ---------------------------------------------------------------------------------------

MINER_SORTS = {
    "miner": "miner_id",
    "site": "site__code",
    "model": "model",
    "state": "state",
    "hashrate": "lv__hashrate_5s_ghs",
    "temp": "lv__temperature_max",
    "seen": "lv__ts",
}
MINER_COLUMNS = (
    "pk",
    "miner_id",
    "site__code",
    "zone__code",
    "model",
    "nominal_hashrate_ths",
    "state",
    "lv__ts",
    "lv__hashrate_5s_ghs",
    "lv__temperature_max",
    "lv__uptime_seconds",
    "nominal_power_w",
    "hashrate_ths",
    "site__name",
    "created_at",
)


def miner_search_q(q: str) -> Q:
    """The portal's miner search: miner id, model, site code or site name containing `q`."""
    return Q(miner_id__icontains=q) | Q(model__icontains=q) | Q(site__code__icontains=q) | Q(site__name__icontains=q)


def miner_choices(user, view: PortalView, *, q: str = "", site: str = "", limit: int = 20) -> tuple[list[dict], bool]:
    """The miners a picker offers: the portal's miners of the tenant (scoping: a group-limited customer
    gets their groups' only), searched like the miner list, of one site if given, by site and miner id;
    at most `limit` rows and whether there are more: one query of `limit + 1` rows, whatever the fleet."""
    qs = view.miners(user)
    if site:
        qs = qs.filter(site__code=site)
    if q:
        qs = qs.filter(miner_search_q(q))
    rows = list(
        qs.order_by("site__code", "miner_id").values("miner_id", "model", "site__code", "zone__code")[: limit + 1]
    )
    return [
        {"site": r["site__code"], "miner_id": r["miner_id"], "model": r["model"], "zone": r["zone__code"]}
        for r in rows[:limit]
    ], len(rows) > limit


def miner_list(
    user, miners: QuerySet[Miner], *, q: str = "", state: str = "", sort: str = "miner", now=None
) -> tuple[QuerySet, dict[str, int]]:
    """The tenant's miners with state and live figures as dict rows (MINER_COLUMNS), searched,
    filtered by state and sorted server-side (`sort`: a MINER_SORTS key, `-key` descending) — to
    be paginated — and the count per state under the same search (the chips)."""
    qs = telemetry.miners_with_state(user, miners, site_ids=miners.values("site_id"), now=now)
    qs = qs.annotate(hashrate_ths=F("lv__hashrate_5s_ghs") / Value(1000.0))
    if q:
        qs = qs.filter(miner_search_q(q))
    counts = dict.fromkeys(telemetry.STATES, 0)
    counts.update(dict(qs.order_by().values_list("state").annotate(n=Count("pk")).values_list("state", "n")))
    if state in telemetry.STATES:
        qs = qs.filter(state=state)
    desc = sort.startswith("-")
    field = MINER_SORTS.get(sort.lstrip("-"), "miner_id")
    order = F(field).desc(nulls_last=True) if desc else F(field).asc(nulls_last=True)
    # site and miner_id break ties: pages stay stable whatever the sort
    return qs.order_by(order, "site__code", "miner_id").values(*MINER_COLUMNS), counts


# --- miner page ---------------------------------------------------------------------------------------

# The range a person picks -> the tier that answers it (SPEC §5 retention: 1m 45 days, 15m 2 years).
MINER_RANGES = {
    "24h": ("1m", dt.timedelta(hours=24)),
    "7d": ("15m", dt.timedelta(days=7)),
    "30d": ("daily", dt.timedelta(days=30)),
}


def miner_series(user, miner: Miner, range_key: str, *, now=None) -> dict:
    """Hashrate (TH/s, mean of the bucket) and temperature_max (hottest of the bucket) over the range."""
    tier, span = MINER_RANGES.get(range_key, MINER_RANGES["24h"])
    end = now or timezone.now()
    rows = history(user, tier=tier, start=end - span, end=end, miner=miner)

    def at(b):
        if isinstance(b, dt.datetime):
            return int(b.timestamp())
        return int(dt.datetime.combine(b, dt.time(), tzinfo=dt.UTC).timestamp())

    return {
        "tier": tier,
        "t": [at(r["bucket"]) for r in rows],
        "hashrate_ths": [None if r["hashrate_5s_avg"] is None else _ths(r["hashrate_5s_avg"]) for r in rows],
        "temperature_max": [r["temperature_max"] for r in rows],
    }


def miner_commands(user, view: PortalView, miner: Miner, *, limit: int = 200) -> QuerySet[Command]:
    """Every command on the miner while this tenant owned it (commands carry the tenant at creation)."""
    return (
        commands_for(user)
        .filter(miner=miner, tenant=view.tenant)
        .select_related("created_by", "approved_by")
        .order_by("-created_at", "-pk")[:limit]
    )
