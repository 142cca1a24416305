import time

from celery import shared_task
from django.core.cache import cache

WORKER_HEARTBEAT_KEY = "ops:worker:last_heartbeat"
HEARTBEAT_INTERVAL_SEC = 30


@shared_task(name="ops.heartbeat")
def heartbeat_task():
    """Proves a worker consumes the queue (read by /health/deep). Every worker may record it."""
    cache.set(WORKER_HEARTBEAT_KEY, time.time(), timeout=None)
