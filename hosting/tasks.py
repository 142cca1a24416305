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
    from hosting.services.alerts import collectors_dark_scan

    return collectors_dark_scan()
