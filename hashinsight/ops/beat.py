import time

from django.core.cache import cache
from django_celery_beat.schedulers import DatabaseScheduler

BEAT_TICK_KEY = "ops:beat:last_tick"


class TickRecordingScheduler(DatabaseScheduler):
    """The DB scheduler, plus a timestamp of each tick so /health/deep can see beat is alive."""

    def tick(self, *args, **kwargs):
        try:
            cache.set(BEAT_TICK_KEY, time.time(), timeout=None)
        except Exception:
            pass
        return super().tick(*args, **kwargs)
