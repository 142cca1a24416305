import os

from celery import Celery
from celery.signals import beat_init, celeryd_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hashinsight.settings")

app = Celery("hashinsight")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@celeryd_init.connect
def _worker_start_checks(**kwargs):
    # At worker/beat start, not at import: `manage.py check` imports this module too.
    from hashinsight.startup import refuse_a_pooled_database, refuse_without_required_settings

    refuse_without_required_settings()
    refuse_a_pooled_database("worker")


@beat_init.connect
def _beat_start_checks(**kwargs):
    from hashinsight.startup import refuse_a_pooled_database, refuse_without_required_settings

    refuse_without_required_settings()
    refuse_a_pooled_database("beat")
