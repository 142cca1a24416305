"""manage.py import_original: the original application's database into this cloud, through the
owning apps' services (tenants.switchover for inventory, telemetry.history_import for history,
telemetry.rollups for the 15-minute and daily tiers).

Order: sites → customers (owners) → miners (zones with them) → collector keys → telemetry. The
inventory is one transaction; telemetry goes in batches of `batch` source rows, each committed with
its checkpoint (the last source id), so an interrupted run goes on from there. A dry run does the
inventory in a transaction it rolls back (so its counts are exact) and only counts telemetry.
"""

import datetime as dt
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.services import Actor, EventSpec, audit_record_many
from hashinsight.ops.switchover.source import Original, TelemetrySource
from telemetry.history_import import history_partitions_ensure, telemetry_history_import
from telemetry.rollups import telemetry_rollup_15m, telemetry_rollup_daily
from tenants.switchover import (
    ACTION,
    InventoryReport,
    import_checkpoint_get,
    import_checkpoint_set,
    switchover_inventory_import,
    switchover_miner_map,
)

ACTOR = Actor.system("cli.import_original")
PARTS = ("sites", "owners", "miners", "keys", "telemetry")
MAX_ROLLUP_RUNS = 10_000  # a rollup run closes 6 hours (15m) or a day (daily): 45 days is far below
REASONS_KEPT = 50  # skipped telemetry rows listed in the report (the rest are counted)


@dataclass
class Options:
    only: frozenset[str] = frozenset(PARTS)
    since: dt.datetime | None = None  # default: the oldest day the 1-minute tier keeps
    batch: int = 5000
    limit: int | None = None  # telemetry source rows read by this run at most (then it stops, resumable)
    dry_run: bool = False
    operator_customer_ids: frozenset[int] = frozenset()
    source: str = ""  # the name the mapping is kept under (default: the original's database name)


@dataclass
class TelemetryCounts:
    read: int = 0
    inserted: int = 0
    existing: int = 0  # already in the raw tier (earlier run, or sent by a collector)
    unknown_miner: int = 0
    older_than_since: int = 0
    buckets_1m: int = 0
    remaining: int = 0  # left for a later run (--limit)
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ImportReport:
    source: str
    dry_run: bool
    inventory: InventoryReport = field(default_factory=InventoryReport)
    portfolio_entries: int = 0
    telemetry: dict[str, TelemetryCounts] = field(default_factory=lambda: defaultdict(TelemetryCounts))
    rollups: dict[str, int] = field(default_factory=dict)
    events: int = 0
    finished: bool = True

    def lines(self) -> list[str]:
        head = "dry run: nothing was written" if self.dry_run else "import"
        out = [f"{head} from {self.source!r}"]
        for table, c in self.inventory.tables.items():
            out.append(
                f"{table}: {c.read} read, {c.created} created, {c.existing} already here, {len(c.skipped)} skipped"
            )
            out += [f"  skipped {table} #{sid}: {reason}" for sid, reason in c.skipped]
        if self.portfolio_entries:
            out.append(f"user_miners: {self.portfolio_entries} portfolio entries not imported (no device, no site)")
        for table, t in self.telemetry.items():
            verb = "would be read" if self.dry_run else "read"
            out.append(
                f"telemetry {table}: {t.read} {verb}, {t.inserted} inserted, {t.existing} already here, "
                f"{t.unknown_miner} of unknown miners, {t.older_than_since} older than --since, "
                f"{t.buckets_1m} 1m buckets written, {t.remaining} left for the next run"
            )
            out += [f"  skipped {table} #{sid}: {reason}" for sid, reason in t.skipped]
        for tier, rows in self.rollups.items():
            out.append(f"rollup {tier}: {rows} rows written")
        out.append(f"audit: {self.events} {ACTION} event(s)")
        if not self.finished:
            out.append("stopped at --limit: run the same command again to go on")
        return out


def oldest_importable_day() -> dt.datetime:
    """The oldest UTC day the 1-minute tier keeps: history before it has nowhere to stay."""
    today = timezone.now().astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - dt.timedelta(days=settings.TELEMETRY_1M_RETENTION_DAYS)


class ImportRunning(Exception):
    pass


def _run_lock(source: str, *, take: bool) -> bool:
    """One run per source at a time (a session lock: it outlives the batches' transactions)."""
    fn = "pg_try_advisory_lock" if take else "pg_advisory_unlock"
    with connection.cursor() as cur:
        cur.execute(f"SELECT {fn}(hashtext('switchover.import'), hashtext(%s))", [source])
        return cur.fetchone()[0]


class _DryRun(Exception):
    pass


def _inventory(original: Original, options: Options, report: ImportReport) -> None:
    only = options.only
    report.inventory = switchover_inventory_import(
        actor=ACTOR,
        source=report.source,
        sites=original.sites() if "sites" in only else [],
        customers=original.customers() if "owners" in only else [],
        miners=original.miners() if "miners" in only else [],
        keys=original.keys() if "keys" in only else [],
        operator_customer_ids=options.operator_customer_ids,
    )
    report.events += report.inventory.events
    if "owners" in only:
        report.portfolio_entries = original.portfolio_entries()


def _telemetry_dry(original: Original, options: Options, report: ImportReport) -> None:
    miners = switchover_miner_map(report.source)
    for src in original.telemetry_sources():
        counts = report.telemetry[src.table]
        after = import_checkpoint_get(source=report.source, table=src.table).last_id
        for site_id, serial, n in original.telemetry_per_miner(src, after, options.since):
            counts.read += n
            if (site_id, serial) not in miners:
                counts.unknown_miner += n
        counts.inserted = counts.read - counts.unknown_miner  # at most: duplicates are found on writing
        if options.since is not None:
            counts.older_than_since = original.telemetry_older(src, after, options.since)


def _telemetry_table(
    original: Original,
    src: TelemetrySource,
    options: Options,
    report: ImportReport,
    miners: dict,
    per_tenant: dict,
    budget: list[int],
    progress: Callable[[str], None],
    after_batch: Callable[[int], None] | None,
) -> None:
    counts = report.telemetry[src.table]
    tenant_of = {miner_pk: tenant_pk for _, miner_pk, tenant_pk in miners.values()}
    checkpoint = import_checkpoint_get(source=report.source, table=src.table)
    total = original.telemetry_count(src, checkpoint.last_id, options.since)
    if options.since is not None:
        counts.older_than_since = original.telemetry_older(src, checkpoint.last_id, options.since)
    done, rows_total = 0, checkpoint.rows
    for samples in original.telemetry(src, checkpoint.last_id, options.since, options.batch):
        if budget[0] <= 0:
            report.finished = False
            break
        samples = samples[: budget[0]]
        rows = []
        for s in samples:
            known = miners.get((s.site_id, s.serial))
            if known is None:
                counts.unknown_miner += 1
                if len(counts.skipped) < REASONS_KEPT:
                    counts.skipped.append((str(s.id), f"miner {s.serial!r} of site {s.site_id} was not imported"))
                continue
            site_pk, miner_pk, tenant_pk = known
            rows.append({"site_id": site_pk, "miner_id": miner_pk, "tenant_id": tenant_pk, "ts": s.ts, **s.fields})
        history_partitions_ensure({r["ts"].date() for r in rows})  # outside the batch: DDL locks the parent
        with transaction.atomic():
            stored = telemetry_history_import(rows=rows, source=report.source)
            import_checkpoint_set(
                source=report.source, table=src.table, last_id=samples[-1].id, rows=rows_total + len(samples)
            )
        rows_total += len(samples)
        done += len(samples)
        budget[0] -= len(samples)
        counts.read += len(samples)
        counts.inserted += stored["inserted"]
        counts.existing += len(rows) - stored["inserted"]
        counts.buckets_1m += stored["buckets"]
        for miner_pk, n in stored["by_miner"].items():
            entry = per_tenant[tenant_of[miner_pk]]
            entry[src.table] = entry.get(src.table, 0) + n
        for r in rows:
            entry = per_tenant[r["tenant_id"]]
            entry["from"] = min(entry.get("from") or r["ts"], r["ts"])
            entry["to"] = max(entry.get("to") or r["ts"], r["ts"])
        progress(f"telemetry {src.table}: {done} of {total}")
        if after_batch is not None:
            after_batch(done)
    counts.remaining = max(total - done, 0)


def _telemetry_audit(source: str, per_tenant: dict) -> int:
    events = []
    for tenant_pk, entry in sorted(per_tenant.items()):
        samples = {k: v for k, v in entry.items() if k not in ("from", "to")}
        if not any(samples.values()):
            continue
        payload = {"phase": "telemetry", "source": source, "samples": samples}
        payload |= {"from": entry["from"], "to": entry["to"]}
        events.append(EventSpec(ACTION, "tenants.tenant", str(tenant_pk), payload, tenant_id=tenant_pk))
    with transaction.atomic():
        audit_record_many(actor=ACTOR, events=events)
    return len(events)


def _rollups(report: ImportReport) -> None:
    """The product's own rollup job, run until it has caught up with the imported range."""
    for name, rollup in (("15m", telemetry_rollup_15m), ("daily", telemetry_rollup_daily)):
        written = 0
        for _ in range(MAX_ROLLUP_RUNS):
            result = rollup()
            written += result.rows_written
            if not result.backlog:
                break
        report.rollups[name] = written


def _telemetry(original, options, report, progress, after_batch) -> None:
    miners = switchover_miner_map(report.source)
    per_tenant: dict[int, dict] = defaultdict(dict)
    budget = [options.limit if options.limit is not None else sys.maxsize]
    try:
        for src in original.telemetry_sources():
            _telemetry_table(original, src, options, report, miners, per_tenant, budget, progress, after_batch)
    finally:
        # What the committed batches brought is audited even if a later batch failed.
        report.events += _telemetry_audit(report.source, per_tenant)
    # Rolled up once the history is all in: a day rolled up half-imported would be "corrected" later.
    if report.finished and any(c.inserted for c in report.telemetry.values()):
        _rollups(report)


def import_original(
    *,
    dsn: str,
    options: Options,
    progress: Callable[[str], None] = lambda line: None,
    after_batch: Callable[[int], None] | None = None,
) -> ImportReport:
    """Run the import (or the dry run) and say what it did. `after_batch(rows_done)` is called
    after every committed telemetry batch (progress hooks, tests interrupting a run)."""
    original = Original(dsn)
    source = options.source or original.name
    if not _run_lock(source, take=True):
        original.close()
        raise ImportRunning(f"another import of {source!r} is running")
    try:
        if options.since is None and "telemetry" in options.only:
            options.since = oldest_importable_day()
        report = ImportReport(source=source, dry_run=options.dry_run)
        if options.dry_run:
            try:
                with transaction.atomic():
                    _inventory(original, options, report)
                    if "telemetry" in options.only:
                        _telemetry_dry(original, options, report)
                    raise _DryRun
            except _DryRun:
                report.events = 0
            return report
        _inventory(original, options, report)
        progress("inventory: " + ", ".join(f"{t} {c.as_dict()}" for t, c in report.inventory.tables.items()))
        if "telemetry" in options.only:
            _telemetry(original, options, report, progress, after_batch)
        return report
    finally:
        _run_lock(source, take=False)
        original.close()
