import os

from celery import Celery
from celery.signals import beat_init, celeryd_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hashinsight.settings")

app = Celery("hashinsight")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@celeryd_init.connect
@beat_init.connect
def _refuse_without_required_settings(**kwargs):
    # At worker/beat start, not at import: `manage.py check` imports this module too.
    from hashinsight.startup import refuse_without_required_settings

    refuse_without_required_settings()
