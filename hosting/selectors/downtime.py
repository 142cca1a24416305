"""Downtime reads (SPEC §9), scoped: a customer reads the intervals of their tenants — the owner at
the time, so a miner that moved to another customer still counts in the old owner's past and never
in the new owner's — and an operator those of the miners at their sites (zones). Figures follow
docs/DOWNTIME.md (hosting.definitions)."""

import datetime as dt
from dataclasses import dataclass, field

from django.db import connections
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.replica import read_alias
from hosting.models import DowntimeCause, DowntimeInterval
from hosting.models.downtime import PLANNED_CAUSES
from tenants import scoping
from tenants.models import Miner, Site, Tenant

CAUSES = [c.value for c in DowntimeCause]
DOWN_CAUSES = [c for c in CAUSES if c != DowntimeCause.UNMEASURED]


def _scope_q(user) -> Q:
    scope = scoping.scope_for(user)
    if scope.is_platform:
        return Q()
    if scope.is_operator:
        return Q(miner__in=scoping.miners_for(user))
    return scope.customer_miner_q(tenant_field="tenant_id", miner_field="miner_id")


def downtime_intervals_for(user, capability: str = scoping.Capability.VIEW) -> QuerySet[DowntimeInterval]:
    """Every interval in the caller's scope (the admin's read-only list)."""
    return DowntimeInterval.objects.filter(_scope_q(user))


def downtime_intervals_list(
    user, *, start: dt.datetime, end: dt.datetime, site: Site | None = None, tenant: Tenant | None = None, miner=None
) -> QuerySet[DowntimeInterval]:
    """Intervals in the caller's scope overlapping [start, end), oldest first (not clipped)."""
    qs = DowntimeInterval.objects.filter(_scope_q(user), started_at__lt=end).filter(
        Q(ended_at__isnull=True) | Q(ended_at__gt=start)
    )
    if site is not None:
        qs = qs.filter(site=site)
    if tenant is not None:
        qs = qs.filter(tenant=tenant)
    if miner is not None:
        qs = qs.filter(miner=miner)
    return qs.select_related("miner", "site", "tenant", "command", "maintenance").order_by("started_at", "id")


@dataclass
class MinerDowntime:
    miner_pk: int
    miner_id: str
    site: str
    tenant_id: int
    period_minutes: float
    minutes: dict[str, float] = field(default_factory=dict)

    @property
    def unmeasured(self) -> float:
        return self.minutes.get(DowntimeCause.UNMEASURED, 0.0)

    @property
    def measured(self) -> float:
        return max(self.period_minutes - self.unmeasured, 0.0)

    @property
    def unplanned(self) -> float:
        return sum(v for k, v in self.minutes.items() if k in DOWN_CAUSES and k not in PLANNED_CAUSES)

    @property
    def planned(self) -> float:
        return sum(v for k, v in self.minutes.items() if k in PLANNED_CAUSES)

    @property
    def availability_pct(self) -> float | None:
        return None if not self.measured else round(100.0 * (self.measured - self.unplanned) / self.measured, 3)


_SUMMARY_SQL = """
WITH owned AS (  -- the minutes each (miner, tenant) was owned within the period
    SELECT o.miner_id, o.tenant_id, m.miner_id AS edge_id, s.code AS site,
           sum(greatest(extract(epoch FROM
               least(coalesce(o.valid_to, %(now)s), %(now)s) - greatest(o.valid_from, %(start)s)), 0) / 60)
               AS period_minutes
    FROM tenants_minerownership o
    JOIN tenants_miner m ON m.id = o.miner_id
    JOIN tenants_site s ON s.id = m.site_id
    WHERE o.valid_from < %(end)s AND (o.valid_to IS NULL OR o.valid_to > %(start)s)
      AND m.id = ANY(%(miners)s) AND o.tenant_id = ANY(%(tenants)s)
    GROUP BY o.miner_id, o.tenant_id, m.miner_id, s.code
),
down AS (  -- downtime minutes per (miner, tenant, cause), clipped to the period
    SELECT d.miner_id, d.tenant_id, d.cause,
           sum(greatest(extract(epoch FROM
               least(coalesce(d.ended_at, %(now)s), %(now)s) - greatest(d.started_at, %(start)s)), 0) / 60)
               AS minutes
    FROM hosting_downtimeinterval d
    WHERE d.id = ANY(%(intervals)s)
    GROUP BY d.miner_id, d.tenant_id, d.cause
)
SELECT o.miner_id, o.edge_id, o.site, o.tenant_id, o.period_minutes, d.cause, d.minutes
FROM owned o LEFT JOIN down d ON d.miner_id = o.miner_id AND d.tenant_id = o.tenant_id
ORDER BY o.site, o.edge_id, o.tenant_id
"""


def downtime_by_miner(
    user,
    *,
    start: dt.datetime,
    end: dt.datetime,
    site: Site | None = None,
    tenant: Tenant | None = None,
    now=None,
    params: dict | None = None,
) -> list[MinerDowntime]:
    """Per (miner, owner) of the caller's scope: the minutes owned in the period and the downtime
    minutes by cause; time after `now` is not counted (an open interval runs up to it). `params`:
    downtime_scope_params already computed for the same arguments."""
    params = params or downtime_scope_params(user, start=start, end=end, site=site, tenant=tenant, now=now)
    rows: dict[tuple[int, int], MinerDowntime] = {}
    with connections[read_alias()].cursor() as cur:  # the replica inside a replica scope (core/replica.py)
        cur.execute(_SUMMARY_SQL, params)
        for miner_pk, edge_id, site_code, tenant_id, period, cause, minutes in cur.fetchall():
            row = rows.setdefault(
                (miner_pk, tenant_id), MinerDowntime(miner_pk, edge_id, site_code, tenant_id, float(period or 0))
            )
            if cause is not None:
                row.minutes[cause] = round(float(minutes), 3)
    return list(rows.values())


def downtime_scope_params(
    user, *, start: dt.datetime, end: dt.datetime, site: Site | None = None, tenant: Tenant | None = None, now=None
) -> dict:
    """The SQL parameters of a scoped downtime read: the period, `now` (clipped to its end), and the
    ids of the miners, owner tenants and intervals the caller may count (reports reuse them)."""
    now = min(now or timezone.now(), end)
    scope = scoping.scope_for(user)
    miners = scoping.miners_for(user) if scope.is_operator else None
    intervals = downtime_intervals_list(user, start=start, end=end, site=site, tenant=tenant)
    miner_ids = list(
        (miners if miners is not None else _miners_owned(scope, start, end))
        .filter(**({"site": site} if site is not None else {}))
        .values_list("pk", flat=True)
    )
    tenant_ids = (
        [tenant.pk]
        if tenant is not None
        else (
            list(scope.customer_tenants_all) if scope.is_customer else list(Tenant.objects.values_list("pk", flat=True))
        )
    )
    return {
        "start": start,
        "end": end,
        "now": now,
        "miners": miner_ids,
        "tenants": tenant_ids,
        "intervals": list(intervals.values_list("pk", flat=True)),
    }


def _miners_owned(scope, start, end):
    """Miners the customer's tenants owned at some time in the period (now or before)."""
    owned = scope.customer_miner_q(tenant_field="ownerships__tenant_id", miner_field="pk")  # groups: theirs only
    return Miner.objects.filter(
        owned
        & Q(ownerships__valid_from__lt=end)
        & (Q(ownerships__valid_to__isnull=True) | Q(ownerships__valid_to__gt=start))
    ).distinct()


def downtime_summary(
    user,
    *,
    start: dt.datetime,
    end: dt.datetime,
    site: Site | None = None,
    tenant: Tenant | None = None,
    now=None,
    params: dict | None = None,
) -> dict:
    """The figures of an SLA report: per cause, measured and unmeasured time, availability."""
    per_miner = downtime_by_miner(user, start=start, end=end, site=site, tenant=tenant, now=now, params=params)
    period = sum(m.period_minutes for m in per_miner)
    by_cause = {c: round(sum(m.minutes.get(c, 0.0) for m in per_miner), 3) for c in CAUSES}
    unmeasured = by_cause[DowntimeCause.UNMEASURED]
    measured = max(period - unmeasured, 0.0)
    unplanned = sum(v for c, v in by_cause.items() if c in DOWN_CAUSES and c not in PLANNED_CAUSES)
    planned = sum(v for c, v in by_cause.items() if c in PLANNED_CAUSES)
    return {
        "start": start,
        "end": end,
        "miners": len({m.miner_pk for m in per_miner}),
        "period_minutes": round(period, 3),
        "unmeasured_minutes": unmeasured,
        "measured_minutes": round(measured, 3),
        "downtime_minutes": by_cause,
        "planned_minutes": round(planned, 3),
        "unplanned_minutes": round(unplanned, 3),
        "availability_pct": None if not measured else round(100.0 * (measured - unplanned) / measured, 3),
        "uptime_pct": None if not measured else round(100.0 * (measured - unplanned - planned) / measured, 3),
        "per_miner": per_miner,
    }
