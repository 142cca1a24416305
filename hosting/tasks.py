"""Beat jobs of hosting (declared in settings.CELERY_BEAT_SCHEDULE); each runs once cluster-wide per
interval."""

from celery import shared_task
from django.conf import settings

from core.periodic import once_per_interval


@shared_task(name="hosting.downtime")
@once_per_interval("hosting.downtime", settings.DOWNTIME_INTERVAL_SEC)
def downtime_task():
    from hosting.services.downtime import downtime_pass_all

    results = downtime_pass_all()
    return {"sites": len(results), "runs": sum(r.runs for r in results)}


@shared_task(name="hosting.collectors_dark")
@once_per_interval("hosting.collectors_dark", settings.COLLECTOR_DARK_INTERVAL_SEC)
def collectors_dark_task():
    """Collector health: dark collectors, and sites whose uploads hit the registration cap."""
    from hosting.services.alerts import collectors_dark_scan
    from hosting.services.alerts_registration import registration_capped_scan

    return {**collectors_dark_scan(), "registration_capped": registration_capped_scan()}


@shared_task(name="hosting.evidence_pack_build", acks_late=True)
def evidence_pack_build_task(pack_id: int):
    """Build one requested pack (a second delivery of the message finds it claimed and does nothing)."""
    from hosting.services.evidence import evidence_pack_build

    pack = evidence_pack_build(pack_id=pack_id)
    return {"pack": pack.pk, "status": pack.status}
