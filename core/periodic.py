"""Run a periodic job once cluster-wide, however many beat processes send it.

Two guards, one per way a job could run twice:

- A slot in Redis: SET NX `periodic:<job>` with an expiry a little shorter than the interval.
  Two beats that both send the job in one interval produce two task messages; the first to
  run claims the slot, the other logs `periodic.skipped` and returns. (Shorter than the
  interval so that a beat's next send is never refused by its own previous claim.)
- A PostgreSQL advisory lock held while the body runs: a run that outlasts its slot (a backlog
  makes the hourly job take 70 minutes) is not joined by the next interval's run, which skips.
  Session-level, so the body keeps its own transactions; it needs workers to reach PostgreSQL
  directly or through a session-mode pooler (docs/DEPLOYMENT.md).

A run that fails keeps its slot: the job runs again next interval, never twice in one.

A run whose worker process was killed (kill -9, the OOM killer) is delivered again with the same
task id (acks_late + task_reject_on_worker_lost): the slot holds that id, so the redelivery is let
through, and it waits (up to REDELIVERY_LOCK_WAIT_SEC) for the dead run's session — and its
advisory lock — to go away. The job then runs to the same result in the same interval.
"""

import functools
import hashlib
import secrets
import time

import structlog
from django.core.cache import cache
from django.db import DatabaseError, connection

from core import metrics

logger = structlog.get_logger(__name__)

REDELIVERY_LOCK_WAIT_SEC = 30


def advisory_lock_key(job: str) -> int:
    digest = hashlib.blake2b(f"periodic:{job}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)  # pg advisory locks take a bigint


def _skip(job: str, reason: str):
    metrics.periodic_runs_total.labels(job, "skipped").inc()
    logger.info("periodic.skipped", job=job, reason=reason)


def _delivery_id() -> str | None:
    from celery import current_task

    request = getattr(current_task, "request", None)
    return getattr(request, "id", None) if current_task else None


def advisory_try_lock(lock_key: int, wait_sec: float) -> bool:
    deadline = time.monotonic() + wait_sec
    while True:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", [lock_key])
            (locked,) = cur.fetchone()
        if locked or time.monotonic() >= deadline:
            return locked
        time.sleep(0.25)


def once_per_interval(job: str, interval_sec: float):
    ttl = max(1, int(interval_sec * 0.9))
    lock_key = advisory_lock_key(job)

    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            delivery = _delivery_id()
            slot = f"periodic:{job}"
            redelivered = False
            if not cache.add(slot, delivery or secrets.token_hex(8), timeout=ttl):
                if delivery is None or cache.get(slot) != delivery:
                    return _skip(job, "already ran in this interval")
                redelivered = True  # this very message ran before and its worker died
            if not advisory_try_lock(lock_key, REDELIVERY_LOCK_WAIT_SEC if redelivered else 0):
                return _skip(job, "previous run still in progress")
            try:
                metrics.periodic_runs_total.labels(job, "ran").inc()
                logger.info("periodic.run", job=job, redelivered=redelivered)
                return fn(*args, **kwargs)
            finally:
                try:
                    with connection.cursor() as cur:
                        cur.execute("SELECT pg_advisory_unlock(%s)", [lock_key])
                except DatabaseError:
                    connection.close()  # the session is gone, and its lock with it

        return wrapper

    return decorator
