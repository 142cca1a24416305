"""manage.py import_original --dsn postgres://…: the original application's database into this
cloud (docs/COMPATIBILITY.md, "Import the original database")."""

import datetime as dt

import psycopg2
from django.core.management.base import BaseCommand, CommandError

from hashinsight.ops.switchover.run import PARTS, ImportRunning, Options, import_original, oldest_importable_day


def _parts(value: str) -> frozenset[str]:
    parts = frozenset(p.strip() for p in value.split(",") if p.strip())
    unknown = parts - set(PARTS)
    if unknown or not parts:
        raise CommandError(f"--only takes a comma-separated list of {', '.join(PARTS)}")
    return parts


def _day(value: str) -> dt.datetime:
    try:
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), tzinfo=dt.UTC)
    except ValueError as exc:
        raise CommandError(f"--since takes a date (YYYY-MM-DD), not {value!r}") from exc


class Command(BaseCommand):
    help = (
        "Import the original application's sites, zones, customers, miners, collector keys and telemetry "
        "history. Safe to run again (nothing already imported is created twice); an interrupted run goes on "
        "where it stopped. --dry-run counts what would be done and writes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dsn", required=True, help="the original database, postgres://user:pass@host/db")
        parser.add_argument("--dry-run", action="store_true", help="count, write nothing")
        parser.add_argument("--only", type=_parts, default=frozenset(PARTS), help=f"some of {','.join(PARTS)}")
        parser.add_argument("--since", type=_day, help="telemetry from this UTC day (default: the 1m retention)")
        parser.add_argument("--batch", type=int, default=5000, help="telemetry rows per transaction")
        parser.add_argument("--limit", type=int, help="read at most this many telemetry rows in this run")
        parser.add_argument(
            "--operator-customers",
            default="",
            help="original user ids (comma-separated) whose miners are the operator's own, not a customer's",
        )
        parser.add_argument("--source", default="", help="name to keep the mapping under (default: database name)")

    def handle(self, *args, dsn, dry_run, only, since, batch, limit, operator_customers, source, **options):
        if batch < 1 or (limit is not None and limit < 0):
            raise CommandError("--batch must be at least 1 and --limit not negative")
        oldest = oldest_importable_day()
        if since is not None and since < oldest:
            # Older days have no 1m partition to keep them, and the rollup job reads only 1m.
            raise CommandError(f"--since cannot be before {oldest:%Y-%m-%d} (TELEMETRY_1M_RETENTION_DAYS)")
        try:
            operators = frozenset(int(v) for v in operator_customers.split(",") if v.strip())
        except ValueError as exc:
            raise CommandError("--operator-customers takes comma-separated original user ids") from exc
        opts = Options(
            only=only,
            since=since,
            batch=batch,
            limit=limit,
            dry_run=dry_run,
            operator_customer_ids=operators,
            source=source,
        )
        try:
            report = import_original(dsn=dsn, options=opts, progress=lambda line: self.stderr.write(line))
        except ImportRunning as exc:
            raise CommandError(str(exc)) from exc
        except psycopg2.OperationalError as exc:
            raise CommandError(f"cannot read the original database: {str(exc).strip()}") from exc
        for line in report.lines():
            self.stdout.write(line)
