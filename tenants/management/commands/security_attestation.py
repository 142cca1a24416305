import datetime as dt
import json

from django.core.management.base import BaseCommand, CommandError

from tenants.edge_attestation import day_bounds, security_attestation
from tenants.models import Site


class Command(BaseCommand):
    help = (
        "Print whether mTLS and the source-network allowlist were on at a site for a whole day (the site's "
        "calendar day), from the site's audit chain, with each change's seq and hash."
    )

    def add_arguments(self, parser):
        parser.add_argument("--site", required=True, help="site code")
        parser.add_argument("--date", required=True, help="YYYY-MM-DD, a day in the site's time zone")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the statement as JSON")

    def handle(self, *args, site, date, as_json=False, **options):
        site_obj = Site.objects.filter(code=site).first()
        if site_obj is None:
            raise CommandError(f"no site with code {site!r}")
        try:
            day = dt.date.fromisoformat(date)
        except ValueError as exc:
            raise CommandError(f"--date {date!r} is not YYYY-MM-DD") from exc
        start, end = day_bounds(site_obj, day)
        att = security_attestation(site=site_obj, start=start, end=end, span="day")
        if as_json:
            self.stdout.write(_dumps(att.as_dict()))
        else:
            self.stdout.write("\n".join(att.lines()))


def _dumps(data) -> str:
    return json.dumps(data, indent=2, sort_keys=True)
