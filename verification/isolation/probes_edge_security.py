"""Objects of the edge security admins (site mTLS/allowlist, collector certificates) for the admin
probes: one per site, made once."""

import datetime as dt
import hashlib

from django.utils import timezone

from tenants.models import CollectorCertificate, SiteEdgeSecurity
from verification.isolation.world import World


def _security(site) -> int:
    return SiteEdgeSecurity.objects.get_or_create(site=site)[0].pk


def _certificate(collector) -> int:
    cert, _ = CollectorCertificate.objects.get_or_create(
        fingerprint_sha256=hashlib.sha256(f"isolation {collector.pk}".encode()).hexdigest(),
        defaults={"collector": collector, "not_after": timezone.now() + dt.timedelta(days=365)},
    )
    return cert.pk


def site_security_admin_objects(w: World) -> tuple:
    return (_security(w.site_y), _security(w.site_y), _security(w.site_x))


def certificate_admin_objects(w: World) -> tuple:
    return (_certificate(w.collector_y), _certificate(w.collector_y), _certificate(w.collector_x))
