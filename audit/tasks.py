from celery import shared_task

from core.periodic import once_per_interval


@shared_task(name="audit.seal_segments")
@once_per_interval("audit.seal_segments", 3600)
def audit_seal_segments_task():
    from audit.services import audit_seal_segments

    return len(audit_seal_segments())


@shared_task(name="audit.purge_expired")
@once_per_interval("audit.purge_expired", 3600)
def audit_purge_expired_task():
    from audit.services import audit_purge_expired

    return audit_purge_expired()
