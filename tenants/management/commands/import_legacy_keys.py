"""Take over the original application's collector keys (their SHA-256, as it stored them)."""

import csv

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from audit.services import Actor
from core.errors import DomainError
from tenants.models import Collector
from tenants.services import collector_legacy_key_import, inventory_save
from tenants.site_identity import site_by_code_or_alias

COLUMNS = ("site", "collector", "sha256")


class Command(BaseCommand):
    help = (
        "Import legacy collector keys from a CSV of site (code or alias), collector name, sha256 "
        "(a header row with those names is optional). Missing collectors are created. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", required=True, help="CSV file: site,collector,sha256")

    def handle(self, *args, file, **options):
        with open(file, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
        if rows and tuple(c.strip().lower() for c in rows[0]) == COLUMNS:
            rows = rows[1:]
        actor = Actor.system("cli.import_legacy_keys")
        imported = present = 0
        # All or nothing: a file with one bad row changes nothing, so it can be fixed and re-run.
        with transaction.atomic():
            for line, row in enumerate(rows, start=1):
                if len(row) != 3:
                    raise CommandError(f"row {line}: expected site,collector,sha256, got {len(row)} columns")
                site_value, name, digest = (c.strip() for c in row)
                site = site_by_code_or_alias(site_value)
                if site is None:
                    raise CommandError(f"row {line}: no site with code or alias {site_value!r}")
                if not name:
                    raise CommandError(f"row {line}: empty collector name")
                collector = Collector.objects.filter(site=site, name=name).first()
                if collector is None:
                    collector = inventory_save(actor=actor, obj=Collector(site=site, name=name))
                try:
                    _, created = collector_legacy_key_import(actor=actor, collector=collector, key_sha256=digest)
                except DomainError as exc:
                    raise CommandError(f"row {line}: {exc.message}") from exc
                imported += created
                present += not created
        self.stdout.write(f"{imported} legacy key(s) imported, {present} already present")
