"""Daily partitions of the raw and 1-minute tiers: created ahead (and on demand by ingest for
late samples), dropped whole by retention — never a mass DELETE.

Partition `<table>_pYYYYMMDD` holds [day 00:00 UTC, next day 00:00 UTC). A table keeps the
partitions from `today - retention days` on; older ones are dropped.
"""

import datetime as dt
import re

import structlog
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.utils import ProgrammingError

logger = structlog.get_logger(__name__)

PARTITIONED = {"telemetry_raw": "TELEMETRY_RAW_RETENTION_DAYS", "telemetry_1m": "TELEMETRY_1M_RETENTION_DAYS"}
# CREATE … PARTITION OF and DROP lock the parent table: the hourly job gives up (and retries next
# run) rather than queue behind a long query while every ingest queues behind it.
MAINTENANCE_LOCK_TIMEOUT = "5s"
_NAME = re.compile(r"^(?P<table>\w+)_p(?P<day>\d{8})$")
_known: set[str] = set()  # partitions this process has seen committed (saves a catalog query per upload)


def partition_name(table: str, day: dt.date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def retention_days(table: str) -> int:
    return getattr(settings, PARTITIONED[table])


def keep_from(table: str, today: dt.date) -> dt.date:
    """The oldest day whose partition retention keeps."""
    return today - dt.timedelta(days=retention_days(table))


def ensure_partition(table: str, day: dt.date, *, lock_timeout: str | None = None) -> bool:
    """Create the partition of `day` if missing. Returns True when it was created.

    With `lock_timeout`, raises OperationalError instead of waiting longer for the parent's lock.
    """
    name = partition_name(table, day)
    if name in _known:
        return False
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    created = False
    try:
        # A savepoint: two processes creating the same partition at once must not abort the caller's transaction.
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SELECT to_regclass(%s)", [name])
            if cur.fetchone()[0] is None:
                # Two concurrent CREATEs of one name can also fail on pg_type's unique index, not
                # only with "already exists": creators of one partition take turns.
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])
                cur.execute("SELECT to_regclass(%s)", [name])
                if cur.fetchone()[0] is None:
                    if lock_timeout:
                        cur.execute("SET LOCAL lock_timeout = %s", [lock_timeout])
                    cur.execute(f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM (%s) TO (%s)", [start, end])
                    if lock_timeout:
                        cur.execute("SET LOCAL lock_timeout = DEFAULT")
                    created = True
    except ProgrammingError as exc:  # lost the race: the other process created it
        if "already exists" not in str(exc):
            raise
    # Remembered only once committed: a creation rolled back with the caller's transaction
    # must be made again, or every later insert of that day fails in this process.
    transaction.on_commit(lambda: _known.add(name))
    if created:
        logger.info("telemetry.partition_created", partition=name)
    return created


def partitions_of(table: str) -> list[tuple[str, dt.date]]:
    """The day partitions of `table`, oldest first (other partitions, if any, are ignored)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s ORDER BY c.relname",
            [table],
        )
        names = [r[0] for r in cur.fetchall()]
    found = []
    for name in names:
        match = _NAME.match(name)
        if match and match["table"] == table:
            found.append((name, dt.datetime.strptime(match["day"], "%Y%m%d").date()))
    return found


def drop_partition(name: str, *, lock_timeout: str | None = None) -> None:
    with transaction.atomic(), connection.cursor() as cur:
        if lock_timeout:
            cur.execute("SET LOCAL lock_timeout = %s", [lock_timeout])
        cur.execute(f"DROP TABLE IF EXISTS {name}")
    _known.discard(name)
    logger.info("telemetry.partition_dropped", partition=name)


def partitions_maintain(*, today: dt.date | None = None, ahead_days: int | None = None) -> dict:
    """Create partitions from the oldest retained day to `ahead_days` ahead; drop expired ones.

    Returns {"created": [...], "dropped": [...], "skipped": [...]} (skipped: the parent's lock was
    not granted in time; the next run retries). Safe to run twice.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    ahead = settings.TELEMETRY_PARTITIONS_AHEAD_DAYS if ahead_days is None else ahead_days
    report: dict[str, list[str]] = {"created": [], "dropped": [], "skipped": []}
    for table in PARTITIONED:
        oldest = keep_from(table, today)
        day = oldest
        while day <= today + dt.timedelta(days=ahead):
            try:
                if ensure_partition(table, day, lock_timeout=MAINTENANCE_LOCK_TIMEOUT):
                    report["created"].append(partition_name(table, day))
            except OperationalError:
                report["skipped"].append(partition_name(table, day))
                logger.warning("telemetry.partition_lock_timeout", partition=partition_name(table, day))
            day += dt.timedelta(days=1)
        for name, day in partitions_of(table):
            if day >= oldest:
                continue
            try:
                drop_partition(name, lock_timeout=MAINTENANCE_LOCK_TIMEOUT)
            except OperationalError:
                report["skipped"].append(name)
                logger.warning("telemetry.partition_lock_timeout", partition=name)
                continue
            report["dropped"].append(name)
    return report
