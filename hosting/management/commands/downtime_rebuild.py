import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from hosting.services.downtime import downtime_pass
from tenants.models import Site

STEP = dt.timedelta(hours=6)


def _when(value: str, name: str) -> dt.datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"--{name}: not an ISO date or datetime: {value!r}")
        parsed = dt.datetime.combine(day, dt.time())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class Command(BaseCommand):
    help = (
        "Recompute the downtime intervals of a site over a past range from the stored tiers, upload "
        "receipts, commands and maintenance windows (idempotent: the same range gives the same intervals)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--site", required=True, help="site code")
        parser.add_argument("--from", dest="since", required=True, help="ISO date/datetime (UTC when no zone)")
        parser.add_argument("--to", dest="until", required=True, help="ISO date/datetime, exclusive")

    def handle(self, *args, site, since, until, **options):
        target = Site.objects.filter(code=site).first()
        if target is None:
            raise CommandError(f"--site: no site {site!r}")
        start, end = _when(since, "from"), _when(until, "to")
        if end <= start:
            raise CommandError("--to must be after --from")
        total, at = 0, start
        while at < end:
            stop = min(at + STEP, end)
            result = downtime_pass(site=target, start=at, end=stop)
            total += result.runs
            done = (stop - start) / (end - start) * 100
            self.stdout.write(f"{target.code} {at:%Y-%m-%d %H:%M}–{stop:%H:%M} runs={result.runs} {done:.0f}%")
            at = stop
        self.stdout.write(f"done: {target.code} {start:%Y-%m-%dT%H:%MZ}..{end:%Y-%m-%dT%H:%MZ} runs={total}")
