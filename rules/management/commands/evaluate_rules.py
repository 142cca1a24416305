"""`manage.py evaluate_rules [--site CODE] [--dry-run]`: one rule pass by hand, printing what it
found and did (a dry run decides but writes nothing)."""

from django.core.management.base import BaseCommand, CommandError

from rules.services.evaluation import rules_evaluate
from tenants.models import Site


class Command(BaseCommand):
    help = "Run one rule-engine pass now and print what it found and did."

    def add_arguments(self, parser):
        parser.add_argument("--site", help="only this site's rules (its code)")
        parser.add_argument("--dry-run", action="store_true", help="decide and report, write nothing")

    def handle(self, *args, site=None, dry_run=False, **options):
        target = None
        if site:
            target = Site.objects.filter(code=site).first()
            if target is None:
                raise CommandError(f"no site with code {site!r}")
        report = rules_evaluate(site=target, dry_run=dry_run)
        for line in report.lines():
            self.stdout.write(line)
