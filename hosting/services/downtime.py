"""Downtime intervals, maintained incrementally (SPEC §9; definitions in docs/DOWNTIME.md).

A pass per site, under the site's watermark row lock (two passes of one site never interleave):

1. the window: from the watermark to the last whole minute before now - DOWNTIME_GRACE_SEC,
   rewound to the oldest sample of any upload received since the previous pass (a collector that
   replays its spool after a dark hour turns "unmeasured" minutes into measured ones), at most
   DOWNTIME_MAX_REWIND_HOURS back and DOWNTIME_MAX_PASS_MINUTES long (a backlog catches up over
   the next passes);
2. intervals inside the window are dropped and those crossing its start are cut there;
3. one statement (hosting.services.downtime_sql) classifies every (miner, minute) of the window
   and compresses them into runs;
4. a run that starts at the window start and continues a cut interval (same miner, owner, cause,
   command, window) extends it; the others are inserted; a run that reaches the window end stays
   open (ended_at NULL).

So a pass that finds nothing new changes nothing, and re-running a range gives the same intervals.
The owner is the one at each minute (tenants.MinerOwnership): a miner moved to another customer
never moves its past intervals.
"""

import datetime as dt
import json
from dataclasses import dataclass

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min, Q
from django.utils import timezone

from hosting.models import DowntimeInterval, DowntimeWatermark
from hosting.selectors.maintenance import maintenance_occurrences
from hosting.services.downtime_sql import RUNS_SQL
from telemetry.models import IngestBatch
from tenants.models import Site

logger = structlog.get_logger(__name__)
MINUTE = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class PassResult:
    site: str
    start: dt.datetime | None
    end: dt.datetime | None
    runs: int = 0
    inserted: int = 0
    extended: int = 0


def _floor_minute(value: dt.datetime) -> dt.datetime:
    return value.replace(second=0, microsecond=0)


def _window(site: Site, mark: DowntimeWatermark, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    start = mark.processed_until
    # Uploads since the previous pass (a minute's margin for one received while it ran) that carry
    # older samples: a spool replayed after a dark period. Their minutes are judged again.
    late = (
        IngestBatch.objects.filter(
            site=site, received_at__gte=mark.updated_at - MINUTE, sample_from__lt=mark.processed_until
        )
        .aggregate(oldest=Min("sample_from"))
        .get("oldest")
    )
    if late is not None:
        floor = now - dt.timedelta(hours=settings.DOWNTIME_MAX_REWIND_HOURS)
        start = _floor_minute(
            max(late, floor, mark.processed_until - dt.timedelta(hours=settings.DOWNTIME_MAX_REWIND_HOURS))
        )
        start = min(start, mark.processed_until)
    return start, start + dt.timedelta(minutes=settings.DOWNTIME_MAX_PASS_MINUTES)


def _occurrences_json(site: Site, start: dt.datetime, end: dt.datetime) -> str:
    return json.dumps(
        [
            {
                "id": o.window.pk,
                "zone_id": o.window.zone_id,
                "miner_id": o.window.miner_id,
                "start": o.start.isoformat(),
                "stop": o.end.isoformat(),
            }
            for o in maintenance_occurrences(site=site, start=start, end=end)
        ]
    )


def _runs(site: Site, start: dt.datetime, end: dt.datetime) -> list[dict]:
    params = {
        "site": site.pk,
        "a": start,
        "b": end,
        "look": start - dt.timedelta(seconds=settings.TELEMETRY_STALE_SEC),
        "stale": settings.TELEMETRY_STALE_SEC,
        "zero_pct": settings.DOWNTIME_ZERO_HASHRATE_PCT,
        "maint": _occurrences_json(site, start, end),
    }
    with connection.cursor() as cur:
        # The planner guesses 1,000 rows per generate_series and so JIT-compiles the statement, which
        # costs more than it saves (~1.3 s of a 1.4 s pass of 5,000 miners). SET LOCAL: this
        # transaction only (the pass runs in one).
        cur.execute("SET LOCAL jit = off")
        cur.execute(RUNS_SQL, params)
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _key(row) -> tuple:
    return (row["miner_id"], row["tenant_id"], row["cause"], row["command_id"], row["maintenance_id"])


def _evidence(run: dict) -> dict:
    hashrate = run["hashrate_ghs"]
    return {
        "minutes": int(run["minutes"]),
        "samples": int(run["samples"] or 0),  # PostgreSQL sums integers as numeric
        "online_samples": int(run["online_samples"] or 0),
        "hashrate_avg_ghs": None if hashrate is None else round(float(hashrate), 1),
    }


def _split_at(site: Site, at: dt.datetime) -> None:
    """Cut the intervals crossing `at` in two, so a rebuild of a past range ending there keeps what
    lies after it."""
    crossing = list(
        DowntimeInterval.objects.filter(site=site, started_at__lt=at).filter(
            Q(ended_at__isnull=True) | Q(ended_at__gt=at)
        )
    )
    DowntimeInterval.objects.filter(pk__in=[i.pk for i in crossing]).update(ended_at=at)
    for interval in crossing:
        interval.pk, interval.started_at = None, at
    DowntimeInterval.objects.bulk_create(crossing)


def _merge(site: Site, start: dt.datetime, end: dt.datetime, runs: list[dict], *, open_end: bool) -> tuple[int, int]:
    if not open_end:
        _split_at(site, end)
    DowntimeInterval.objects.filter(site=site, started_at__gte=start, started_at__lt=end).delete()
    crossing = list(
        DowntimeInterval.objects.filter(site=site, started_at__lt=start).filter(
            Q(ended_at__isnull=True) | Q(ended_at__gt=start)
        )
    )
    DowntimeInterval.objects.filter(pk__in=[i.pk for i in crossing]).update(ended_at=start)
    carry = {(i.miner_id, i.tenant_id, i.cause, i.command_id, i.maintenance_id): i for i in crossing}
    extended, fresh = [], []
    for run in runs:
        # A run reaching the end of the newest window is still going on: open.
        stop = None if open_end and run["ended_at"] >= end else run["ended_at"]
        held = carry.pop(_key(run), None) if run["started_at"] == start else None
        if held is not None:
            held.ended_at = stop
            held.evidence = {**held.evidence, "minutes": held.evidence.get("minutes", 0) + run["minutes"]}
            extended.append(held)
        else:
            fresh.append(
                DowntimeInterval(
                    miner_id=run["miner_id"],
                    tenant_id=run["tenant_id"],
                    site=site,
                    started_at=run["started_at"],
                    ended_at=stop,
                    cause=run["cause"],
                    command_id=run["command_id"],
                    maintenance_id=run["maintenance_id"],
                    evidence=_evidence(run),
                )
            )
    DowntimeInterval.objects.bulk_update(extended, ["ended_at", "evidence", "updated_at"])
    DowntimeInterval.objects.bulk_create(fresh)
    return len(fresh), len(extended)


@transaction.atomic
def downtime_pass(*, site: Site, now: dt.datetime | None = None, start=None, end=None) -> PassResult:
    """One pass over `site`: the window from its watermark (or [start, end) when given: a rebuild,
    which never moves the watermark back)."""
    now = now or timezone.now()
    last = _floor_minute(now - dt.timedelta(seconds=settings.DOWNTIME_GRACE_SEC))
    # The row lock: one pass per site at a time (the periodic guard already makes it one per interval).
    mark, created = DowntimeWatermark.objects.select_for_update().get_or_create(
        site=site, defaults={"processed_until": last - dt.timedelta(minutes=settings.DOWNTIME_FIRST_PASS_MINUTES)}
    )
    if start is None:
        start, end = _window(site, mark, now)
    start, end = _floor_minute(start), _floor_minute(min(end, last))
    if end <= start:
        return PassResult(site.code, start, end)
    runs = _runs(site, start, end)
    inserted, extended = _merge(site, start, end, runs, open_end=end >= mark.processed_until)
    mark.processed_until = max(mark.processed_until, end)
    mark.save(update_fields=["processed_until", "updated_at"])
    return PassResult(site.code, start, end, len(runs), inserted, extended)


def downtime_pass_all(*, now: dt.datetime | None = None) -> list[PassResult]:
    results = [downtime_pass(site=site, now=now) for site in Site.objects.order_by("pk")]
    busy = [r for r in results if r.runs]
    if busy:
        logger.info("downtime.pass", sites=len(results), runs=sum(r.runs for r in busy))
    return results
