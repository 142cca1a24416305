from django.core.management.base import BaseCommand, CommandError

from audit.services import Actor
from tenants.models import Collector, Site
from tenants.services import collector_token_create, inventory_save


class Command(BaseCommand):
    help = "Create a collector token for a site (and collector) and print it once."

    def add_arguments(self, parser):
        parser.add_argument("--site", required=True, help="site code (X-Site-ID)")
        parser.add_argument(
            "--collector", help="collector name; created when missing (default: the site's only collector)"
        )
        parser.add_argument("--label", default="cli")

    def handle(self, *args, site, collector=None, label="cli", **options):
        site_obj = Site.objects.filter(code=site).first()
        if site_obj is None:
            raise CommandError(f"no site with code {site!r}")
        actor = Actor.system("cli.collector_token_create")
        if collector:
            obj = Collector.objects.filter(site=site_obj, name=collector).first()
            if obj is None:
                obj = inventory_save(actor=actor, obj=Collector(site=site_obj, name=collector))
        else:
            found = list(Collector.objects.filter(site=site_obj)[:2])
            if len(found) != 1:
                raise CommandError(f"site {site} has {len(found) or 'no'} collectors: name one with --collector")
            obj = found[0]
        token, plaintext = collector_token_create(actor=actor, collector=obj, label=label)
        self.stderr.write(f"collector {obj} · token prefix {token.prefix} · shown once, store it now:")
        self.stdout.write(plaintext)
