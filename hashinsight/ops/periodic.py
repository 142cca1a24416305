"""Run a periodic job once cluster-wide, however many beat processes send it.

Each run first claims `periodic:<job>` in Redis with SET NX and an expiry a little shorter than
the job's interval. Two beats that both send the job in the same interval produce two task
messages; the first to run claims the slot, the other logs `periodic.skipped` and returns.
"""

import functools
import secrets

import structlog
from django.core.cache import cache

from hashinsight.ops import metrics

logger = structlog.get_logger(__name__)


def once_per_interval(job: str, interval_sec: float):
    ttl = max(1, int(interval_sec * 0.9))

    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            claim = secrets.token_hex(8)
            if not cache.add(f"periodic:{job}", claim, timeout=ttl):
                metrics.periodic_runs_total.labels(job, "skipped").inc()
                logger.info("periodic.skipped", job=job, reason="already ran in this interval on another process")
                return None
            metrics.periodic_runs_total.labels(job, "ran").inc()
            logger.info("periodic.run", job=job)
            return fn(*args, **kwargs)

        return wrapper

    return decorator
