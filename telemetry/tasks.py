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


@shared_task(name="telemetry.quarantine_drain")
@once_per_interval("telemetry.quarantine_drain", 300)
def telemetry_quarantine_drain_beat_task():
    """Every collector's open quarantined batches (a registration whose own drain was lost)."""
    from telemetry.quarantine import quarantine_drain

    return quarantine_drain()


@shared_task(name="telemetry.quarantine_drain_collector")
def telemetry_quarantine_drain_task(*, collector_id: int):
    """One collector's, queued when its payload key is registered or rotated."""
    from telemetry.quarantine import quarantine_drain

    return quarantine_drain(collector_id=collector_id)
