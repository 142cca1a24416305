"""`manage.py probe beat` — the same checks as /health/deep, for container healthchecks of
processes that serve no HTTP (worker, beat). Exit status 0 when every named check passes."""

import json

from django.core.management.base import BaseCommand, CommandError

from hashinsight.ops import probes


class Command(BaseCommand):
    help = "Run health checks (database, redis, worker, beat, migrations); non-zero exit if any fails."

    def add_arguments(self, parser):
        parser.add_argument("checks", nargs="+", choices=sorted(probes.CHECKS))

    def handle(self, *args, checks, **options):
        result = probes.run(checks)
        self.stdout.write(json.dumps(result, sort_keys=True))
        if result["failing"]:
            raise CommandError(f"failing: {', '.join(result['failing'])}")
