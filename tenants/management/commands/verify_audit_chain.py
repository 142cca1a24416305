import datetime as dt
import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from audit.services import chain_key_for
from audit.verify import chain_keys, verify_chains
from tenants.models import Site, Tenant


def _parse_when(value: str | None, name: str):
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"--{name}: not an ISO date or datetime: {value!r}")
        parsed = dt.datetime.combine(day, dt.time())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class Command(BaseCommand):
    help = "Re-verify audit hash chains. Prints PASS, or FAIL lines locating every break; exit 1 on FAIL."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="tenant id or slug: verify that tenant's chain")
        parser.add_argument("--site", help="site code: verify that site's chain")
        parser.add_argument("--from", dest="since", help="ISO date/datetime (UTC when no zone), inclusive")
        parser.add_argument("--to", dest="until", help="ISO date/datetime (UTC when no zone), exclusive")
        parser.add_argument("--workers", type=int, default=None, help="processes verifying segments in parallel")

    def handle(self, *args, tenant=None, site=None, since=None, until=None, workers=None, **options):
        keys = []
        if tenant:
            t = (
                Tenant.objects.filter(pk=int(tenant)).first()
                if tenant.isdigit()
                else Tenant.objects.filter(slug=tenant).first()
            )
            if t is None:
                raise CommandError(f"--tenant: no tenant {tenant!r}")
            keys.append(chain_key_for(tenant_id=t.pk))
        if site:
            if not Site.objects.filter(code=site).exists():
                raise CommandError(f"--site: no site {site!r}")
            keys.append(chain_key_for(site_code=site))
        if not keys:
            keys = chain_keys()
        results = verify_chains(keys, since=_parse_when(since, "from"), until=_parse_when(until, "to"), workers=workers)
        failed = False
        for res in results:
            if res.ok:
                self.stdout.write(
                    f"PASS chain={res.chain} events={res.events} seq={res.first_seq}..{res.last_seq} "
                    f"head_hash={res.head_hash or '-'}"
                )
            else:
                failed = True
                for brk in res.breaks:
                    self.stdout.write(brk.line())
        total = sum(r.events for r in results)
        self.stdout.write(("FAIL" if failed else "PASS") + f" chains={len(results)} events={total}")
        if failed:
            sys.exit(1)
