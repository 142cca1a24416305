"""Telemetry retention (SPEC §5, §8 "retention purges"), run hourly by `telemetry.retention`.

- raw and 1m: whole daily partitions are dropped (telemetry.partitions), never a mass DELETE;
- 15m and daily: rows older than their retention are deleted in bounded batches. The tables
  have no time-leading index (their keys start with the site), so old rows are found through
  the (miner, time) index: a loose index scan walks the distinct miners of the table (orphans
  of removed miners included), and each DELETE takes at most `batch_size` rows of a few
  hundred miners;
- ingest receipts (IngestBatch) are kept as long as the 1m tier, then deleted in batches, and
  the quarantined batches already ingested with them.

Every run writes one `telemetry.retention.purged` event on the platform chain with the counts.
A day is kept whole: the cut-off of a tier is 00:00 UTC of `today - retention days`.
"""

import datetime as dt

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from telemetry.partitions import partitions_maintain

logger = structlog.get_logger(__name__)

ACTOR = Actor.system("telemetry.retention")
MINERS_PER_DELETE = 500


def _cutoff(today: dt.date, days: int) -> dt.datetime:
    return dt.datetime.combine(today - dt.timedelta(days=days), dt.time(), tzinfo=dt.UTC)


def _miner_ids(table: str, column: str, after: int, limit: int) -> list[int]:
    """The next `limit` distinct miner ids of `table` after `after`: one index probe each."""
    with connection.cursor() as cur:
        cur.execute(
            f"WITH RECURSIVE m(id, n) AS ("
            f"  (SELECT miner_id, 1 FROM {table} WHERE miner_id > %(after)s ORDER BY miner_id, {column} LIMIT 1) "
            f"  UNION ALL "
            f"  SELECT (SELECT miner_id FROM {table} WHERE miner_id > m.id ORDER BY miner_id, {column} LIMIT 1), n + 1 "
            f"  FROM m WHERE m.id IS NOT NULL AND n < %(limit)s"
            f") SELECT id FROM m WHERE id IS NOT NULL",
            {"after": after, "limit": limit},
        )
        return [r[0] for r in cur.fetchall()]


def _delete_old_rows(table: str, column: str, cutoff, batch_size: int) -> int:
    deleted, after = 0, 0
    while miners := _miner_ids(table, column, after, MINERS_PER_DELETE):
        while True:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(
                    f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
                    f"SELECT ctid FROM {table} WHERE miner_id = ANY(%s) AND {column} < %s LIMIT %s))",
                    [miners, cutoff, batch_size],
                )
                deleted += cur.rowcount
            if cur.rowcount < batch_size:
                break
        after = miners[-1]
    return deleted


def _delete_old_receipts(cutoff: dt.datetime, batch_size: int) -> int:
    deleted = 0
    while True:
        with transaction.atomic(), connection.cursor() as cur:
            # A drained quarantined batch points at its receipt: unlinked in the same statement.
            cur.execute(
                "WITH doomed AS (SELECT id FROM telemetry_ingestbatch WHERE received_at < %s "
                "ORDER BY received_at LIMIT %s), "
                "unlinked AS (UPDATE telemetry_quarantinedbatch SET ingest_batch_id = NULL "
                "WHERE ingest_batch_id IN (SELECT id FROM doomed)) "
                "DELETE FROM telemetry_ingestbatch WHERE id IN (SELECT id FROM doomed)",
                [cutoff, batch_size],
            )
            deleted += cur.rowcount
        if cur.rowcount < batch_size:
            return deleted


def _delete_drained_quarantine(cutoff: dt.datetime) -> int:
    """Quarantined batches already ingested go with their receipts; open ones stay (capped per
    collector by TELEMETRY_QUARANTINE_MAX_*) until ingested or discarded."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM telemetry_quarantinedbatch WHERE status = 'done' AND received_at < %s", [cutoff])
        return cur.rowcount


def telemetry_retention_purge(*, now: dt.datetime | None = None, batch_size: int | None = None) -> dict:
    """Create partitions ahead, drop expired ones, delete expired 15m/daily rows and receipts.

    Not one transaction: each batch commits on its own, so a long purge holds no long locks;
    a run that stops half-way is finished by the next one. Returns the report it audits.
    """
    now = now or timezone.now()
    today = now.astimezone(dt.UTC).date()
    batch_size = batch_size or settings.TELEMETRY_RETENTION_BATCH_SIZE
    partitions = partitions_maintain(today=today)
    cut_15m = _cutoff(today, settings.TELEMETRY_15M_RETENTION_DAYS)
    cut_daily = _cutoff(today, settings.TELEMETRY_DAILY_RETENTION_DAYS).date()
    cut_receipts = _cutoff(today, settings.TELEMETRY_1M_RETENTION_DAYS)
    report = {
        "partitions_dropped": partitions["dropped"],
        "partitions_created": len(partitions["created"]),
        "partitions_skipped": partitions["skipped"],
        "rows_deleted": {
            "telemetry_15m": _delete_old_rows("telemetry_15m", "bucket", cut_15m, batch_size),
            "telemetry_daily": _delete_old_rows("telemetry_daily", "day", cut_daily, batch_size),
            "telemetry_quarantinedbatch": _delete_drained_quarantine(cut_receipts),
            "telemetry_ingestbatch": _delete_old_receipts(cut_receipts, batch_size),
        },
        "cutoffs": {
            "telemetry_raw": _cutoff(today, settings.TELEMETRY_RAW_RETENTION_DAYS).isoformat(),
            "telemetry_1m": cut_receipts.isoformat(),
            "telemetry_15m": cut_15m.isoformat(),
            "telemetry_daily": cut_daily.isoformat(),
            "telemetry_ingestbatch": cut_receipts.isoformat(),
        },
    }
    audit_record(
        actor=ACTOR,
        action="telemetry.retention.purged",
        entity_type="telemetry.retention",
        entity_id=today.isoformat(),
        payload=report,
    )
    logger.info("telemetry.retention", **{k: v for k, v in report.items() if k != "cutoffs"})
    return report
