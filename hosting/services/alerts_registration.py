"""The registration-cap alert: one site alert while a site's uploads name more unknown miners than
registration on first sight may add (MINER_AUTO_REGISTER_MAX_PER_UPLOAD / _PER_SITE, telemetry).

Telemetry never imports hosting (floors): it counts the refused records on each upload's receipt
(IngestBatch.registration_refused), and the collector-health beat job reads them here, as it
reads the receipts for dark collectors."""

import datetime as dt

from django.conf import settings
from django.db.models import Max, Sum
from django.utils import timezone

from audit.services import Actor
from hosting.models import Alert, AlertSeverity, AlertSource, AlertState
from hosting.services.alerts import alert_raise
from telemetry.models import IngestBatch
from tenants.models import Site

REGISTRATION_CAPPED = "miner_registration_capped"
LOOKBACK = dt.timedelta(hours=1)


def registration_capped_key(site: Site) -> str:
    return f"{REGISTRATION_CAPPED}:{site.code}"


def registration_capped_scan(*, now: dt.datetime | None = None) -> dict:
    """Raise one alert per site whose uploads of the last hour had records refused by the cap, and
    that arrived after the site's last such alert was resolved. Idempotent (dedupe key per site)."""
    now = now or timezone.now()
    refused = (
        IngestBatch.objects.filter(received_at__gt=now - LOOKBACK, received_at__lte=now, registration_refused__gt=0)
        .values("site")
        .annotate(records=Sum("registration_refused"), last=Max("received_at"))
        .order_by("site")
    )
    resolved = dict(
        Alert.objects.filter(kind=REGISTRATION_CAPPED, state=AlertState.RESOLVED)
        .values("site")
        .annotate(at=Max("resolved_at"))
        .values_list("site", "at")
    )
    actor = Actor.system("hosting.registration_capped")
    raised = sites = 0
    for row in refused:
        if (done := resolved.get(row["site"])) is not None and row["last"] <= done:
            continue
        sites += 1
        site = Site.objects.get(pk=row["site"])
        alert = alert_raise(
            site=site,
            kind=REGISTRATION_CAPPED,
            title=f"Unknown miners refused at {site.code}: registration limit reached",
            severity=AlertSeverity.WARNING,
            source=AlertSource.SYSTEM,
            details={
                "refused_records": row["records"],
                "last_upload": row["last"].isoformat(),
                "max_per_upload": settings.MINER_AUTO_REGISTER_MAX_PER_UPLOAD,
                "max_per_site": settings.MINER_AUTO_REGISTER_MAX_PER_SITE,
            },
            dedupe_key=registration_capped_key(site),
            actor=actor,
            now=row["last"],
        )
        raised += int(alert.raised)
    return {"sites": sites, "raised": raised}
