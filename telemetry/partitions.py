"""Daily partitions of the raw and 1-minute tiers: created ahead (and on demand by ingest for
late samples), dropped whole by retention — never a mass DELETE."""

import datetime as dt

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.db.utils import ProgrammingError

logger = structlog.get_logger(__name__)

PARTITIONED = {"telemetry_raw": "TELEMETRY_RAW_RETENTION_DAYS", "telemetry_1m": "TELEMETRY_1M_RETENTION_DAYS"}
_known: set[str] = set()  # partitions this process has already seen (saves a catalog query per upload)


def partition_name(table: str, day: dt.date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def retention_days(table: str) -> int:
    return getattr(settings, PARTITIONED[table])


def ensure_partition(table: str, day: dt.date) -> bool:
    """Create the partition of `day` if missing. Returns True when it was created."""
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
                cur.execute(f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM (%s) TO (%s)", [start, end])
                created = True
    except ProgrammingError as exc:  # lost the race: the other process created it
        if "already exists" not in str(exc):
            raise
    _known.add(name)
    if created:
        logger.info("telemetry.partition_created", partition=name)
    return created


def partitions_of(table: str) -> list[tuple[str, dt.date]]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s ORDER BY c.relname",
            [table],
        )
        names = [r[0] for r in cur.fetchall()]
    return [(n, dt.datetime.strptime(n.rsplit("_p", 1)[1], "%Y%m%d").date()) for n in names]


def partitions_maintain(*, today: dt.date | None = None, ahead_days: int | None = None) -> dict:
    """Create partitions from the oldest retained day to `ahead_days` ahead; drop expired ones."""
    today = today or dt.datetime.now(dt.UTC).date()
    ahead = settings.TELEMETRY_PARTITIONS_AHEAD_DAYS if ahead_days is None else ahead_days
    report = {"created": [], "dropped": []}
    for table in PARTITIONED:
        keep_from = today - dt.timedelta(days=retention_days(table))
        day = keep_from
        while day <= today + dt.timedelta(days=ahead):
            if ensure_partition(table, day):
                report["created"].append(partition_name(table, day))
            day += dt.timedelta(days=1)
        for name, day in partitions_of(table):
            # A partition is dropped only when all of it is older than the retention.
            if day + dt.timedelta(days=1) <= dt.datetime.combine(keep_from, dt.time()).date():
                with connection.cursor() as cur:
                    cur.execute(f"DROP TABLE IF EXISTS {name}")
                _known.discard(name)
                report["dropped"].append(name)
                logger.info("telemetry.partition_dropped", partition=name)
    return report
