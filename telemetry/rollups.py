"""Rollups of the 1-minute tier into 15-minute buckets and UTC days (SPEC §5).

Both tiers are computed from telemetry_1m, keyed (site, tenant, miner, bucket|day) like their
source, so samples of a miner whose owner changed mid-bucket stay split by tenant. Daily rows
come from 1m rather than from 15m: the day is exactly one 1m partition (no index on the 15m
table needed), and both tiers are recomputed from the same rows, so they agree. Late data is
accepted only within the raw retention (days), far inside the 1m retention, so a day that can
still change still has its 1m rows.

A bucket is *closed* once its end + TELEMETRY_ROLLUP_GRACE_SEC has passed; only closed buckets
are rolled up. Each run, under the tier's watermark row lock, in one transaction:

1. changed pass: 1m rows changed (updated_at) since the previous run, minus an overlap, in
   buckets closed before the previous run → their target buckets are recomputed. A bucket that
   changes here (or appears: a replay filled a closed gap) is a correction: revision + 1,
   corrected = true, and one `telemetry.rollup.corrected` audit event per tenant chain.
2. closing pass: buckets closed since the previous run (at most `max_span` of them per run; a
   backlog catches up over the next runs) are computed from a range scan of 1m.

Every write is `INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE … WHERE (…) IS DISTINCT FROM
(EXCLUDED…)`: values are recomputed from the source, never added, so replays cannot drift them
and a run that finds nothing new writes nothing (no revision bump). Float sums aggregate in
bucket order, so a recomputation gives bit-identical values.
"""

import datetime as dt
from dataclasses import dataclass, field

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.services import Actor, EventSpec, audit_record_many
from telemetry.models import RollupWatermark
from telemetry.partitions import partitions_of

logger = structlog.get_logger(__name__)

ACTOR = Actor.system("telemetry.rollup")
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # bucket origin: 15-minute and day buckets align to UTC


@dataclass(frozen=True)
class _Tier:
    name: str
    table: str
    key: str  # the target's time column
    width: dt.timedelta
    key_sql: str  # the key from the bucket start {s}
    max_span: dt.timedelta  # newly closed time rolled up per run


TIER_15M = _Tier("15m", "telemetry_15m", "bucket", dt.timedelta(minutes=15), "{s}", dt.timedelta(hours=6))
TIER_DAILY = _Tier(
    "daily", "telemetry_daily", "day", dt.timedelta(days=1), "({s} AT TIME ZONE 'UTC')::date", dt.timedelta(days=1)
)

_VALUES = (
    "samples, online_samples, hashrate_5s_sum, hashrate_5s_count, hashrate_5s_max, temperature_max_max, "
    "temperature_max_sum, temperature_max_count, frequency_sum, frequency_count, first_ts, last_ts"
).split(", ")
_AGGREGATES = (
    "sum(m.samples)::int, sum(m.online_samples)::int, sum(m.hashrate_5s_sum ORDER BY m.bucket), "
    "sum(m.hashrate_5s_count)::int, max(m.hashrate_5s_max), max(m.temperature_max_max), "
    "sum(m.temperature_max_sum ORDER BY m.bucket), sum(m.temperature_max_count)::int, "
    "sum(m.frequency_sum ORDER BY m.bucket), sum(m.frequency_count)::int, min(m.first_ts), max(m.last_ts)"
)


def _upsert_sql(tier: _Tier, source: str, start: str) -> str:
    """INSERT … SELECT from `source` (aliases m = telemetry_1m, {start} = bucket start) … ON CONFLICT."""
    columns = ", ".join(["site_id", "tenant_id", "miner_id", tier.key, *_VALUES, "revision", "corrected", "updated_at"])
    key = tier.key_sql.format(s=start)
    return (
        f"INSERT INTO {tier.table} AS t ({columns}) "
        f"SELECT m.site_id, m.tenant_id, m.miner_id, {key}, {_AGGREGATES}, %(revision)s, %(late)s, %(now)s "
        f"{source} GROUP BY m.site_id, m.tenant_id, m.miner_id, {start} "
        f"ON CONFLICT (site_id, tenant_id, miner_id, {tier.key}) DO UPDATE SET "
        + ", ".join(f"{c} = EXCLUDED.{c}" for c in _VALUES)
        + ", revision = t.revision + 1, corrected = true, updated_at = EXCLUDED.updated_at "
        f"WHERE ({', '.join(f't.{c}' for c in _VALUES)}) IS DISTINCT FROM "
        f"({', '.join(f'EXCLUDED.{c}' for c in _VALUES)}) "
        f"RETURNING t.site_id, t.tenant_id, t.miner_id, t.{tier.key}, t.revision"
    )


def _closing_sql(tier: _Tier) -> str:
    start = "date_bin(%(width)s, m.bucket, %(epoch)s)"
    # site_id = ANY(...) lets the (site_id, bucket) index of each 1m partition serve the range.
    source = "FROM telemetry_1m m WHERE m.site_id = ANY(%(sites)s) AND m.bucket >= %(lo)s AND m.bucket < %(hi)s"
    return _upsert_sql(tier, source, start)


def _changed_sql(tier: _Tier) -> str:
    source = (
        "FROM (SELECT DISTINCT site_id, tenant_id, miner_id, date_bin(%(width)s, bucket, %(epoch)s) AS s "
        "      FROM telemetry_1m WHERE updated_at > %(since)s AND bucket < %(closed)s) d "
        "JOIN telemetry_1m m ON m.site_id = d.site_id AND m.tenant_id = d.tenant_id AND m.miner_id = d.miner_id "
        "AND m.bucket >= d.s AND m.bucket < d.s + %(width)s"
    )
    return _upsert_sql(tier, source, "d.s")


@dataclass
class RollupResult:
    tier: str
    closed_from: dt.datetime | None = None  # buckets starting in [closed_from, closed_through) were closed by this run
    closed_through: dt.datetime | None = None
    rows_written: int = 0  # inserted or changed target rows
    corrected: list[tuple] = field(default_factory=list)  # (site_id, tenant_id, miner_id, key, revision)
    backlog: bool = False  # closed buckets are still waiting (next runs catch up)


def _floor(value: dt.datetime, width: dt.timedelta) -> dt.datetime:
    return EPOCH + ((value - EPOCH) // width) * width


def _first_run_start(tier: _Tier, closed_until: dt.datetime) -> dt.datetime | None:
    """Where a tier without a watermark starts: the day of the oldest retained 1m partition that
    holds a row (None: no data yet). Empty partitions made ahead by maintenance are skipped, so a
    new install is not 45 days of empty buckets behind."""
    oldest_kept = closed_until - dt.timedelta(days=settings.TELEMETRY_1M_RETENTION_DAYS + 1)
    with connection.cursor() as cur:
        for name, day in partitions_of("telemetry_1m"):
            start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
            if not oldest_kept <= start < closed_until:
                continue
            cur.execute(f"SELECT 1 FROM {name} LIMIT 1")
            if cur.fetchone():
                return _floor(start, tier.width)
    return None


def _site_ids() -> list[int]:
    from tenants.models import Site

    return list(Site.objects.order_by("pk").values_list("pk", flat=True))


def _audit_corrections(tier: _Tier, rows: list[tuple]) -> None:
    """One event per tenant chain, listing the corrected buckets (per site and bucket, how many miners)."""
    from tenants.models import Site

    codes = dict(Site.objects.filter(pk__in={r[0] for r in rows}).values_list("pk", "code"))
    per_tenant: dict[int, dict[tuple, list[int]]] = {}
    for site_id, tenant_id, _miner_id, key, revision in rows:
        per_tenant.setdefault(tenant_id, {}).setdefault((codes[site_id], key), []).append(revision)
    events = []
    for tenant_id, buckets in sorted(per_tenant.items()):
        sites = sorted({site for site, _ in buckets})
        listed = [
            {"site": site, tier.key: key.isoformat(), "miners": len(revs), "max_revision": max(revs)}
            for (site, key), revs in sorted(buckets.items())
        ]
        payload = {"tier": tier.name, "rows": sum(b["miners"] for b in listed), "buckets": listed}
        events.append(
            EventSpec(
                "telemetry.rollup.corrected",
                "telemetry.rollup",
                tier.name,
                payload,
                tenant_id=tenant_id,
                site_code=sites[0] if len(sites) == 1 else None,
            )
        )
    audit_record_many(actor=ACTOR, events=events)


@transaction.atomic
def _rollup(tier: _Tier, now: dt.datetime | None) -> RollupResult:
    now = now or timezone.now()
    closed_until = _floor(now - dt.timedelta(seconds=settings.TELEMETRY_ROLLUP_GRACE_SEC), tier.width)
    RollupWatermark.objects.bulk_create([RollupWatermark(tier=tier.name, updated_at=now)], ignore_conflicts=True)
    # The row lock serializes runs of this tier (two beats, or a manual run beside the job).
    mark = RollupWatermark.objects.select_for_update().get(tier=tier.name)
    result = RollupResult(tier.name)
    params = {"width": tier.width, "epoch": EPOCH, "now": now}
    with connection.cursor() as cur:
        if mark.changed_through is not None and mark.closed_through is not None:
            since = mark.changed_through - dt.timedelta(seconds=settings.TELEMETRY_ROLLUP_OVERLAP_SEC)
            cur.execute(
                _changed_sql(tier),
                {**params, "since": since, "closed": mark.closed_through, "revision": 1, "late": True},
            )
            written = cur.fetchall()
            result.rows_written += len(written)
            result.corrected += written  # a closed bucket that changes or appears now is a correction
        lo = mark.closed_through or _first_run_start(tier, closed_until)
        hi = min(closed_until, lo + tier.max_span) if lo else None
        if lo and hi > lo:
            cur.execute(
                _closing_sql(tier), {**params, "sites": _site_ids(), "lo": lo, "hi": hi, "revision": 0, "late": False}
            )
            written = cur.fetchall()
            result.rows_written += len(written)
            result.corrected += [row for row in written if row[4] > 0]  # it existed already, with other values
            result.closed_from, result.closed_through = lo, hi
            mark.closed_through = hi
    result.backlog = mark.closed_through is not None and mark.closed_through < closed_until
    mark.changed_through = max(now, mark.changed_through) if mark.changed_through else now
    mark.updated_at = now
    mark.save()
    if result.corrected:
        _audit_corrections(tier, result.corrected)
    logger.info(
        "telemetry.rollup",
        tier=tier.name,
        closed_from=result.closed_from,
        closed_through=result.closed_through,
        rows=result.rows_written,
        corrected=len(result.corrected),
        backlog=result.backlog,
    )
    return result


def telemetry_rollup_15m(*, now: dt.datetime | None = None) -> RollupResult:
    """(Re)compute the 15-minute buckets whose 1m rows closed or changed since the last run."""
    return _rollup(TIER_15M, now)


def telemetry_rollup_daily(*, now: dt.datetime | None = None) -> RollupResult:
    """(Re)compute the UTC days whose 1m rows closed or changed since the last run."""
    return _rollup(TIER_DAILY, now)
