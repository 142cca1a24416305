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


# The fault matrix's beat job (hashinsight/tests/faults): due every FAST_INTERVAL seconds, each run
# appends its wall-clock time to the file named by FAULTS_PROBE_FILE (shared by every worker).
FAST_JOB = "tests.periodic_probe_fast"
FAST_INTERVAL = 4


@shared_task(name=FAST_JOB)
@once_per_interval(FAST_JOB, FAST_INTERVAL)
def periodic_probe_fast_task():
    import os

    with open(os.environ["FAULTS_PROBE_FILE"], "a") as f:
        f.write(f"{time.time()}\n")
