"""Django's flush, which the audit triggers refuse (TRUNCATE). Under the test suite only, the
flush that resets the database between transactional tests runs past them, and also empties the
tables Django does not manage (the partitioned telemetry tiers), which its flush skips. Anywhere
else the triggers keep refusing, so `manage.py flush` cannot erase the audit log."""

import pgtrigger
from django.apps import apps
from django.conf import settings
from django.core.management.commands.flush import Command as FlushCommand
from django.db import connections


class Command(FlushCommand):
    def handle(self, **options):
        if not settings.TESTING:
            return super().handle(**options)
        with pgtrigger.ignore(
            "audit.AuditEvent:audit_event_no_truncate",
            "audit.AuditCheckpoint:audit_checkpoint_no_truncate",
        ):
            result = super().handle(**options)
        unmanaged = sorted({m._meta.db_table for m in apps.get_models() if not m._meta.managed and not m._meta.proxy})
        if unmanaged:
            with connections[options["database"]].cursor() as cur:
                cur.execute(f"TRUNCATE {', '.join(unmanaged)}")
        return result
