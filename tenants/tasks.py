from celery import shared_task

from core.periodic import once_per_interval


@shared_task(name="tenants.object_grants_expire")
@once_per_interval("tenants.object_grants_expire", 60)
def object_grants_expire_task():
    from tenants.object_grants import object_grants_expire

    return object_grants_expire()
