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

A read the replica itself fails mid-page — cancelled by a recovery conflict (SQLSTATE 40001,
"canceling statement due to conflict with recovery": the standby replays a vacuum or a lock that
the query is in the way of, past `max_standby_streaming_delay`) or its connection lost — is retried
on the primary, once: `ReplicaReadMiddleware` runs the view again with the router pinned to the
primary, unless the first run wrote anything (then its answer stands, logged as
`replica.failed_after_write`), and counts it in `replica_fallbacks_total{reason}` with a
`replica.fallback` log line. A lost replica connection is closed and the replica marked unusable
until the next lag check, retried or not. Raw-SQL reads take their database from `read_alias()`.
"""

import contextlib
import contextvars
import logging
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, OperationalError, connections
from django.http import HttpResponse

from core import metrics

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


def _mark_unusable() -> None:
    """Until the next lag check, this process reads from the primary."""
    _last_check[:] = [(time.monotonic(), False)]


def _replica_connected() -> bool:
    """The replica's connection is open (re-opened if its health check fails); a replica that went
    away since the last lag check is found here, before a query is sent to it."""
    conn = connections[REPLICA]
    try:
        conn.close_if_health_check_failed()
        conn.ensure_connection()
        return True
    except DatabaseError as exc:
        log.warning("replica.unreachable", extra={"error": str(exc)[:200]})
        _mark_unusable()
        return False


def read_alias() -> str:
    """The database a raw-SQL read here should use: what the router picks for a shared model."""
    if not (_scope.get() and replica_configured()) or connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS
    return REPLICA if replica_usable() and _replica_connected() else DEFAULT_DB_ALIAS


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


@dataclass
class _Attempt:
    """One run of a replica-scoped request: why the replica failed it, and whether it wrote."""

    failure: str = ""  # "" | "recovery_conflict" | "connection_lost"
    error: str = ""
    wrote: bool = False


_attempt: contextvars.ContextVar[_Attempt | None] = contextvars.ContextVar("replica_attempt", default=None)
# Statements that change nothing (a UNION starts with "(SELECT").
_READ_ONLY_SQL = re.compile(r"[\s(]*(SELECT|SAVEPOINT|RELEASE|ROLLBACK|SET|SHOW)\b", re.IGNORECASE)
_WITH_SQL = re.compile(r"[\s(]*WITH\b", re.IGNORECASE)
# A data-modifying CTE or main statement. Whole words only ("updated_at" is no UPDATE); a literal or a
# `FOR UPDATE` that happens to say one counts as a write too — the side that never runs a write twice.
_WRITE_WORD = re.compile(r"\b(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)


def statement_writes(sql) -> bool:
    """Whether a statement sent to the primary may have changed something: anything but a SELECT (or
    a transaction/setting statement), and a `WITH …` query that says INSERT, UPDATE, DELETE or MERGE
    anywhere (`WITH x AS (DELETE … RETURNING …) SELECT …` writes; `WITH days AS (SELECT …) SELECT …`,
    as the SLA report's figures are, reads). A statement that is not plain text (psycopg's composed
    SQL) counts as a write."""
    if not isinstance(sql, str):
        return True
    if _READ_ONLY_SQL.match(sql):
        return False
    if _WITH_SQL.match(sql):
        return _WRITE_WORD.search(sql) is not None
    return True


def replica_failure_reason(exc: BaseException) -> str:
    """Why a statement failed on the replica, when running it on the primary can help."""
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return ""  # a bad query fails on the primary too
    if getattr(exc.__cause__, "pgcode", None) == "40001" and "conflict with recovery" in str(exc):
        return "recovery_conflict"
    return "connection_lost"  # terminated, closed, reset, the server going away


def _watch_replica(execute, sql, params, many, context):
    try:
        return execute(sql, params, many, context)
    except DatabaseError as exc:
        attempt = _attempt.get()
        if attempt is not None and not attempt.failure and sql != LAG_SQL:  # a failed lag check falls back
            attempt.failure, attempt.error = replica_failure_reason(exc), str(exc)[:300]
        raise


def _watch_primary(execute, sql, params, many, context):
    attempt = _attempt.get()
    if attempt is not None and not attempt.wrote and statement_writes(sql):
        attempt.wrote = True
    return execute(sql, params, many, context)


@contextlib.contextmanager
def primary_reads():
    """Every read in this block on the primary, even inside a replica scope (the fallback run)."""
    token = _scope.set(False)
    try:
        yield
    finally:
        _scope.reset(token)


class ReplicaReadMiddleware:
    """Last in MIDDLEWARE, so it wraps the view alone. GET/HEAD under REPLICA_READ_PATHS (the portal,
    the customer and report APIs) read inside `replica_reads()`; every other request, and every
    write, stays on the primary. A run the replica failed (recovery conflict, lost connection) that
    wrote nothing is run once more on the primary: the page answers as if the replica were not
    there. A streamed body that fails after its first bytes cannot be taken back (none of the
    replica-scoped views stream)."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.prefixes = tuple(settings.REPLICA_READ_PATHS)

    def __call__(self, request):
        if not (request.method in ("GET", "HEAD") and self.prefixes and request.path.startswith(self.prefixes)):
            return self.get_response(request)
        if not replica_configured():
            with replica_reads():
                return self.get_response(request)
        attempt = _Attempt()
        token = _attempt.set(attempt)
        try:
            with (
                replica_reads(),
                connections[REPLICA].execute_wrapper(_watch_replica),
                connections[DEFAULT_DB_ALIAS].execute_wrapper(_watch_primary),
            ):
                response = self.get_response(request)
        finally:
            _attempt.reset(token)
        if not attempt.failure:
            return response
        if attempt.failure == "connection_lost":
            # Whatever happens next: a dead connection is not kept for this thread's next request.
            connections[REPLICA].close()
            _mark_unusable()
        if attempt.wrote:
            # Not run again: the primary already has what this run wrote. Its answer stands.
            log.warning(
                "replica.failed_after_write",
                extra={
                    "reason": attempt.failure,
                    "path": request.path,
                    "status": response.status_code,
                    "error": attempt.error,
                },
            )
            return response
        metrics.replica_fallbacks_total.labels(attempt.failure).inc()
        log.warning(
            "replica.fallback",
            extra={
                "reason": attempt.failure,
                "path": request.path,
                "first_status": response.status_code,
                "error": attempt.error,
            },
        )
        with primary_reads():
            return self.get_response(request)

    def process_exception(self, request, exception):
        """The replica's failure, raised by a view (DRF answers its own 503): a stand-in answer the
        retry in __call__ replaces, so the first run is not logged as a server error."""
        attempt = _attempt.get()
        if attempt is not None and attempt.failure and not attempt.wrote and replica_failure_reason(exception):
            return HttpResponse(status=503)
        return None
