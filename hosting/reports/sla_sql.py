"""The set-based reads behind an SLA report that the downtime selectors do not already answer:
the figures per UTC day, and the hashrate the miners delivered (from the telemetry tiers).

Both take the parameters of hosting.selectors.downtime.downtime_scope_params, so they count
exactly the miners, owners and intervals the report's other figures count."""

import contextlib
import datetime as dt

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F, FloatField, Max, Sum, Value
from django.db.models.functions import Cast, NullIf, TruncDay, TruncHour

from core.replica import read_alias
from telemetry.selectors_history import tier_rows_for

# One row per UTC day touched by the period, clipped to [start, now): the minutes owned and the
# downtime minutes per cause, computed like the period figures (docs/DOWNTIME.md).
_DAYS_SQL = """
WITH days AS (
    SELECT g::date AS day,
           greatest(g AT TIME ZONE 'UTC', %(start)s) AS lo,
           least((g + interval '1 day') AT TIME ZONE 'UTC', %(now)s) AS hi
    FROM generate_series(date_trunc('day', %(start)s AT TIME ZONE 'UTC'),
                         (%(end)s - interval '1 microsecond') AT TIME ZONE 'UTC', interval '1 day') g
),
owned AS (
    SELECT d.day, sum(greatest(extract(epoch FROM
               least(coalesce(o.valid_to, d.hi), d.hi) - greatest(o.valid_from, d.lo)), 0) / 60) AS minutes
    FROM days d
    JOIN tenants_minerownership o ON o.valid_from < d.hi AND (o.valid_to IS NULL OR o.valid_to > d.lo)
    WHERE o.miner_id = ANY(%(miners)s) AND o.tenant_id = ANY(%(tenants)s)
    GROUP BY d.day
),
down AS (
    SELECT d.day, i.cause, sum(greatest(extract(epoch FROM
               least(coalesce(i.ended_at, d.hi), d.hi) - greatest(i.started_at, d.lo)), 0) / 60) AS minutes
    FROM days d
    JOIN hosting_downtimeinterval i ON i.started_at < d.hi AND (i.ended_at IS NULL OR i.ended_at > d.lo)
    WHERE i.id = ANY(%(intervals)s) AND i.miner_id = ANY(%(miners)s) AND i.tenant_id = ANY(%(tenants)s)
    GROUP BY d.day, i.cause
)
SELECT d.day, coalesce(o.minutes, 0), w.cause, w.minutes
FROM days d
LEFT JOIN owned o ON o.day = d.day
LEFT JOIN down w ON w.day = d.day
ORDER BY d.day, w.cause
"""


def day_rows(params: dict) -> dict[dt.date, dict]:
    """{day: {"period_minutes": …, "minutes": {cause: …}}} for every UTC day of the period."""
    days: dict[dt.date, dict] = {}
    with connections[read_alias()].cursor() as cur:  # the replica inside a replica scope (core/replica.py)
        cur.execute(_DAYS_SQL, params)
        for day, owned, cause, minutes in cur.fetchall():
            row = days.setdefault(day, {"period_minutes": round(float(owned), 3), "minutes": {}})
            if cause is not None:
                row["minutes"][cause] = round(float(minutes), 3)
    return days


# --- delivered hashrate ---------------------------------------------------------------------------

TIER_MINUTES = {"1m": 1, "15m": 15, "daily": 1440}
ONE_MINUTE_MAX = dt.timedelta(days=2)  # longer periods read 15m: bounded rows per report


def hashrate_tier(start: dt.datetime, end: dt.datetime, now: dt.datetime) -> str:
    """The finest tier that still holds the whole period (SPEC §5 retention) at a bounded cost."""
    if end - start <= ONE_MINUTE_MAX and start >= now - dt.timedelta(days=settings.TELEMETRY_1M_RETENTION_DAYS):
        return "1m"
    if start >= now - dt.timedelta(days=settings.TELEMETRY_15M_RETENTION_DAYS):
        return "15m"
    return "daily"


def _hash_minutes(tier: str):
    # A bucket's mean hashrate over all its samples (offline samples count as 0) × its length:
    # GH/s·minutes the miner delivered in the bucket.
    return Cast(F("hashrate_5s_sum"), FloatField()) / NullIf(F("samples"), 0) * Value(float(TIER_MINUTES[tier]))


def _tier_rows(user, tier: str, params: dict, site_id: int | None, lo, hi):
    field = "day" if tier == "daily" else "bucket"
    if tier == "daily":
        lo, hi = lo.astimezone(dt.UTC).date(), hi.astimezone(dt.UTC).date()
    qs = tier_rows_for(user, tier).filter(
        miner_id__in=params["miners"], tenant_id__in=params["tenants"], **{f"{field}__gte": lo, f"{field}__lt": hi}
    )
    if site_id is not None:
        qs = qs.filter(site_id=site_id)
    return qs.order_by()


def delivered_hash_minutes(user, params: dict, *, site_id: int | None, now: dt.datetime) -> tuple[str, dict]:
    """(tier, {(miner pk, tenant id): GH/s·minutes}) over [start, now) from the right tier. A 15m
    report takes the quarter-hours the rollup has not closed yet from the 1m tier (as the portal's
    charts do), so a report of the running month is complete to the minute."""
    start, end = params["start"], params["now"]
    tier = hashrate_tier(start, params["end"], now)
    out: dict[tuple[int, int], float] = {}

    def add(qs, t):
        """Add the rows' hash per (miner, owner); the newest bucket read (15m/1m), in the same scan."""
        rows = qs.values("miner_id", "tenant_id").annotate(h=Sum(_hash_minutes(t)))
        if t != "daily":
            rows = rows.annotate(last=Max("bucket"))
        newest = None
        for r in rows:
            key = (r["miner_id"], r["tenant_id"])
            out[key] = out.get(key, 0.0) + float(r["h"] or 0.0)
            if r.get("last") is not None and (newest is None or r["last"] > newest):
                newest = r["last"]
        return newest

    if start >= end:
        return tier, out
    qs = _tier_rows(user, tier, params, site_id, start, end)
    alias = qs.db  # the replica when the router reads there: the scans below stay on it
    with _without_jit(alias):
        last = add(qs.using(alias), tier)
        if tier == "15m":
            # The newest 15m bucket of the scope comes from the scan above: a second pass over the
            # month's 15m rows (an aggregate Max) was half the report's time at 5,000 miners.
            tail_from = last + dt.timedelta(minutes=15) if last else start
            one_minute_kept = now - dt.timedelta(days=settings.TELEMETRY_1M_RETENTION_DAYS)
            if tail_from < end and tail_from >= one_minute_kept:
                add(_tier_rows(user, "1m", params, site_id, tail_from, end).using(alias), "1m")
    return tier, out


@contextlib.contextmanager
def _without_jit(alias: str):
    """A transaction on `alias` with PostgreSQL's JIT off. A month's 15m scan is a few
    expressions over millions of rows; the planner's cost estimate makes it JIT-compile them
    (inlining and optimization in each parallel worker), ~0.7 s of a 1.7 s scan of 5,000 miners
    (docs/REPORTS.md "Cost"). Set for the transaction only (a pooled connection, PgBouncer in
    transaction mode, goes back unchanged) and put back on the way out, so a caller's own
    transaction around the report keeps its setting."""
    with transaction.atomic(using=alias), connections[alias].cursor() as cur:
        cur.execute("SELECT current_setting('jit'), set_config('jit', 'off', true)")
        previous = cur.fetchone()[0]
        try:
            yield
        finally:
            cur.execute("SELECT set_config('jit', %s, true)", [previous])


# --- the original portal's report chart -------------------------------------------------------------

CHART_PERIODS = {"24h": ("1m", dt.timedelta(hours=24)), "7d": ("15m", dt.timedelta(days=7))}
CHART_PERIODS |= {"30d": ("15m", dt.timedelta(days=30)), "90d": ("15m", dt.timedelta(days=90))}


def hashrate_series(user, *, period: str, site_id: int | None, tenant_id: int | None, now: dt.datetime) -> list:
    """[(hour or day start, average TH/s summed over the miners)] for the legacy report chart: per
    hour from 1m over 24 h, else per UTC day from 15m — each bucket's delivered hash (offline
    samples count as 0) over the hour's or day's minutes."""
    tier, span = CHART_PERIODS[period]
    start = now - span if tier == "1m" else dt.datetime.combine((now - span).date(), dt.time(), tzinfo=dt.UTC)
    qs = tier_rows_for(user, tier).filter(bucket__gte=start, bucket__lt=now)
    if site_id is not None:
        qs = qs.filter(site_id=site_id)
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    trunc = TruncHour("bucket", tzinfo=dt.UTC) if tier == "1m" else TruncDay("bucket", tzinfo=dt.UTC)
    minutes = 60.0 if tier == "1m" else 1440.0
    rows = qs.order_by().annotate(t=trunc).values("t").annotate(h=Sum(_hash_minutes(tier))).order_by("t")
    return [(r["t"], round(float(r["h"] or 0.0) / minutes / 1000.0, 3)) for r in rows]
