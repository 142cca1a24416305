"""Reads from a PostgreSQL streaming replica, inside an explicit read-only scope only
(docs/DEPLOYMENT.md, "Read replica").

`DATABASE_REPLICA_URL` adds `DATABASES["replica"]`. `ReplicaRouter.db_for_read` answers "replica"
only while `replica_reads()` is entered (portal pages and report/evidence reads: `ReplicaReadMiddleware`
for GET/HEAD under `REPLICA_READ_PATHS`, the evidence pack task), never inside a transaction on the
primary (a read that follows its own write), never for the models in `PRIMARY_ONLY` (sessions,
sign-in, grants and tokens: a revoked grant or a new session must count at once), and only while
the replica's lag is at most `REPLICA_MAX_LAG_SEC`: beyond it, or when the replica does not answer,
reads fall back to the primary, so a page never fails because the replica is behind. Writes and
migrations always go to the primary.
"""

import contextlib
import contextvars
import logging
import time

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

REPLICA = "replica"
log = logging.getLogger(__name__)

_scope: contextvars.ContextVar[bool] = contextvars.ContextVar("replica_reads", default=False)
# (checked at, usable) of this process's last lag check, so a page does not measure the lag per query.
_last_check: list[tuple[float, bool]] = []

# app label, or "app_label.model_name": always read from the primary.
PRIMARY_ONLY = frozenset(
    {
        "sessions",
        "auth",
        "account",
        "mfa",
        "socialaccount",
        "contenttypes",
        "django_celery_beat",
        "audit",
        "tenants.rolegrant",
        "tenants.personaltoken",
        "tenants.collectortoken",
        "tenants.invitation",
    }
)

LAG_SQL = """
SELECT CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
            ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 1e9) END
"""


@contextlib.contextmanager
def replica_reads():
    """Reads inside this block may be served by the replica (when configured and fresh enough)."""
    token = _scope.set(True)
    try:
        yield
    finally:
        _scope.reset(token)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def replica_lag_sec() -> float:
    """Seconds the replica's replay is behind (0 when it has replayed all it received)."""
    with connections[REPLICA].cursor() as cur:
        cur.execute(LAG_SQL)
        return float(cur.fetchone()[0])


def replica_usable() -> bool:
    now = time.monotonic()
    if _last_check and now - _last_check[0][0] < settings.REPLICA_LAG_CHECK_SEC:
        return _last_check[0][1]
    try:
        lag = replica_lag_sec()
        usable = lag <= settings.REPLICA_MAX_LAG_SEC
        if not usable:
            log.warning("replica.lagging", extra={"lag_sec": lag, "bound_sec": settings.REPLICA_MAX_LAG_SEC})
    except DatabaseError as exc:
        log.warning("replica.unreachable", extra={"error": str(exc)[:200]})
        connections[REPLICA].close()
        usable = False
    _last_check[:] = [(now, usable)]
    return usable


def read_alias() -> str:
    """The database a raw-SQL read here should use: what the router picks for a shared model."""
    if not (_scope.get() and replica_configured()) or connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS
    return REPLICA if replica_usable() else DEFAULT_DB_ALIAS


def _primary_only(model) -> bool:
    meta = model._meta
    return meta.app_label in PRIMARY_ONLY or f"{meta.app_label}.{meta.model_name}" in PRIMARY_ONLY


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        # Inside a transaction on the primary (read_alias): read what it wrote.
        return DEFAULT_DB_ALIAS if _primary_only(model) else read_alias()

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica holds the primary's rows

    def allow_migrate(self, db, app_label, **hints):
        return db == DEFAULT_DB_ALIAS


class ReplicaReadMiddleware:
    """GET/HEAD under REPLICA_READ_PATHS (the portal, the customer and report APIs) read inside
    `replica_reads()`; every other request, and every write, stays on the primary."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.prefixes = tuple(settings.REPLICA_READ_PATHS)

    def __call__(self, request):
        if request.method in ("GET", "HEAD") and self.prefixes and request.path.startswith(self.prefixes):
            with replica_reads():
                return self.get_response(request)
        return self.get_response(request)
