import sys

from django.core.management.base import BaseCommand

from verification.isolation import isolation_verify


class Command(BaseCommand):
    help = (
        "Call every URL route over real HTTP as a customer of tenant A on tenant B's objects, as a NOC "
        "operator of site X on site Y's, as a collector of site Y on site X, and anonymously — and each "
        "signed-in persona again with its personal API token (persona `…+token`); print "
        "PASS/FAIL per route, method and persona; exit 1 on any FAIL (a route without an isolation "
        "case in verification/isolation/cases.py is a FAIL). The fixture world (tenants, sites, miners, "
        "collectors, users, all named iso-<hex>-…) is created in this database for the run and deleted "
        "at its end with everything that points at it (its audit events stay: the chain is append-only). "
        "Sessions are written straight to the session store, so --base-url must be a server on this "
        "same database."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--base-url", default="", help="check a running server (default: start one in-process on a free port)"
        )
        parser.add_argument("--only", default="", help="only routes whose path starts with this, e.g. /api/")

    def handle(self, *args, base_url="", only="", **options):
        if not isolation_verify(base_url=base_url, only=only, write=self.stdout.write):
            sys.exit(1)
