"""A periodic job for the worker that test_celery.py starts (`celery worker --include` loads
it; production workers never do). Its body counts its runs in Redis."""

import time

from celery import shared_task
from django.core.cache import cache

from core.periodic import once_per_interval

JOB = "tests.periodic_probe"
RUNS_KEY = "tests:periodic_probe:runs"


@shared_task(name=JOB)
@once_per_interval(JOB, 60)
def periodic_probe_task():
    cache.incr(RUNS_KEY)
    time.sleep(1)  # still running when the duplicate delivery reaches the other worker process
