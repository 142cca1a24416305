"""Helpers for the audit tests: tampering past the triggers and running the verify command.
(transaction=True tests work as usual: audit's own `flush` command runs past the TRUNCATE
triggers under the test suite only.)"""

import io

from django.core.management import call_command
from django.db import connection, transaction


def tamper(sql: str, params=()) -> int:
    """Run SQL as an attacker with database access would: with every trigger switched off.

    SET LOCAL in its own transaction (a savepoint inside a test's): under `make test-pgbouncer`
    a session-level SET and the statement could land on two server connections, and the switch
    would stay on the first for whoever gets it next."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute(sql, params)
        return cur.rowcount


def verify_command(*args: str) -> tuple[int, str]:
    """`manage.py verify_audit_chain ...` → (exit code, output)."""
    out = io.StringIO()
    try:
        call_command("verify_audit_chain", *args, stdout=out)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue()


def fail_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("FAIL chain=")]
