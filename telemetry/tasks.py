"""Beat jobs of the telemetry tiers (declared in settings.CELERY_BEAT_SCHEDULE); each runs once
cluster-wide per interval."""

from celery import shared_task

from core.periodic import once_per_interval


@shared_task(name="telemetry.rollup")
@once_per_interval("telemetry.rollup", 60)
def telemetry_rollup_task():
    from telemetry.rollups import telemetry_rollup_15m, telemetry_rollup_daily

    results = [telemetry_rollup_15m(), telemetry_rollup_daily()]
    return {r.tier: {"rows": r.rows_written, "corrected": len(r.corrected), "backlog": r.backlog} for r in results}


@shared_task(name="telemetry.retention")
@once_per_interval("telemetry.retention", 3600)
def telemetry_retention_task():
    from telemetry.retention import telemetry_retention_purge

    return telemetry_retention_purge()
