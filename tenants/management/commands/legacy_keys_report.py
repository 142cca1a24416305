"""Which collectors still authenticate with a key imported from the original application."""

from django.core.management.base import BaseCommand
from django.db.models import Q
from django.utils import timezone

from tenants.models import CollectorToken


def legacy_keys_in_use():
    """Legacy keys that still work (not revoked, not expired), oldest use first."""
    now = timezone.now()
    return (
        CollectorToken.objects.filter(kind=CollectorToken.Kind.LEGACY, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .select_related("collector__site")
        .order_by("collector__site__code", "collector__name", "pk")
    )


class Command(BaseCommand):
    help = "List the collectors still on legacy keys: site, collector, key prefix, last_used_at, expires_at."

    def handle(self, *args, **options):
        rows = list(legacy_keys_in_use())
        self.stdout.write("site\tcollector\tkey\tlast_used_at\texpires_at")
        for t in rows:
            used = t.last_used_at.isoformat() if t.last_used_at else "never"
            expires = t.expires_at.isoformat() if t.expires_at else "-"
            self.stdout.write(f"{t.collector.site.code}\t{t.collector.name}\t{t.prefix}\t{used}\t{expires}")
        self.stderr.write(f"{len(rows)} legacy key(s) still valid")
