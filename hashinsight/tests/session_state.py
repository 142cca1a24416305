"""No session-level state on web's path (docs/DEPLOYMENT.md "PgBouncer"): behind PgBouncer in
transaction pooling mode each transaction may run on another server connection, so a statement
whose effect outlives its transaction is taken on one connection and missed (or leaked) on the next.

`guard_web_requests()` wraps every request Django handles in the test process (the test client
and live_server threads) with an execute wrapper on each database connection that fails the
statement when it would leave state on the session: a session advisory lock (the `_xact_`
variants are transaction-scoped and fine), SET without LOCAL, LISTEN, PREPARE, DECLARE … WITH
HOLD, a temporary table that outlives its transaction's rows. The root conftest turns it on for
every test: a test passes through a pooler only by luck if it misses one of these (a single test
client usually gets the same server connection back). Worker-side code (core/periodic.py, the
quarantine drain, evidence packs built by a worker) is not a request and is not guarded: workers
and beat connect to PostgreSQL directly (DATABASE_DIRECT_URL)."""

import contextlib
import re

from django.core.handlers.base import BaseHandler
from django.db import connections

SESSION_STATE = re.compile(
    r"""
      \bpg_(try_)?advisory_lock(_shared)?\s*\(         # session advisory lock (not pg_advisory_xact_lock)
    | ^\s*SET\s+(?!LOCAL\b|CONSTRAINTS\b|TRANSACTION\b) # a session setting (SET LOCAL is the transaction's)
    | ^\s*(LISTEN|PREPARE)\b
    | \bWITH\s+HOLD\b
    | \bCREATE\s+(TEMP|TEMPORARY)\s+TABLE\b(?!.*\bON\s+COMMIT\s+(DROP|DELETE\s+ROWS)\b)
    """,
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)


class SessionStateOnWebPath(AssertionError):
    pass


@contextlib.contextmanager
def guard_web_requests():
    """Yields the list of offending statements (also raised in the request, where a view's own
    error handling might swallow them: the caller asserts it stays empty)."""
    original = BaseHandler.get_response
    seen: list[str] = []

    def refuse(execute, sql, params, many, context):
        if isinstance(sql, str) and SESSION_STATE.search(sql):
            seen.append(sql[:200])
            raise SessionStateOnWebPath(f"session-level state on web's path (breaks behind PgBouncer): {sql[:200]}")
        return execute(sql, params, many, context)

    def get_response(self, request):
        with contextlib.ExitStack() as stack:
            for alias in connections:
                stack.enter_context(connections[alias].execute_wrapper(refuse))
            return original(self, request)

    BaseHandler.get_response = get_response
    try:
        yield seen
    finally:
        BaseHandler.get_response = original
