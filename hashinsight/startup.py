"""Start-up refuses to run without its required settings (gunicorn, celery, manage.py): one line
naming each missing variable on stderr, exit status 2. `manage.py check` is the exception: it
lists every configuration problem as a system check (hashinsight/checks.py) instead.

Celery worker and beat also refuse to start on a transaction-pooling proxy (PgBouncer with
`pool_mode = transaction`): their session-level advisory locks would be taken on one server
connection and released on another (docs/DEPLOYMENT.md "PgBouncer")."""

import sys

import psycopg2
from django.conf import settings
from django.db import connections

MISSING = "hashinsight.E001"


def refuse_without_required_settings() -> None:
    missing = [message for check_id, message in getattr(settings, "CONFIG_ERRORS", []) if check_id == MISSING]
    if missing:
        sys.stderr.write("".join(f"ImproperlyConfigured: {message}\n" for message in missing))
        sys.exit(2)


def transaction_pooled(wrapper) -> bool:
    """True when two client connections made like `wrapper`'s (a Django database connection) share
    one PostgreSQL backend, i.e. a transaction (or statement) pooler sits in between. Never true
    directly on PostgreSQL (a backend per connection) nor behind a session-mode pooler (a server
    connection per client).

    `a` runs one statement in autocommit, so a pooler takes its server connection back; `b` then
    opens a transaction. PgBouncer hands out the most recently used idle server connection first:
    `b` gets `a`'s (same pid). If another client took that one meanwhile, `a`'s next statement
    lands on a server connection other than its first. Two short connections, once per start."""
    params = wrapper.get_connection_params()
    a = wrapper.get_new_connection(params)
    try:
        a.autocommit = True
        b = wrapper.get_new_connection(params)
        try:
            b.autocommit = False
            first, other = _backend_pid(a), _backend_pid(b)  # b stays in its transaction: it holds its server
            return other == first or _backend_pid(a) != first
        finally:
            b.close()
    finally:
        a.close()


def _backend_pid(raw) -> int:
    with raw.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return cur.fetchone()[0]


def refuse_a_pooled_database(role: str) -> None:
    """Celery worker/beat start: exit 2 with one line when the database is behind a transaction pooler."""
    wrapper = connections["default"]
    db = wrapper.settings_dict
    where = f"{db.get('HOST') or 'local socket'}:{db.get('PORT') or 5432}/{db.get('NAME')}"
    source = "DATABASE_DIRECT_URL" if settings.DATABASE_DIRECT_URL and settings.PROCESS_ROLE else "DATABASE_URL"
    try:
        pooled = transaction_pooled(wrapper)
    except psycopg2.Error as exc:  # not reachable yet: tasks retry on their own
        sys.stderr.write(f"celery {role}: pooler check skipped, {source} ({where}) not reachable: {exc}\n")
        return
    if pooled:
        sys.stderr.write(
            f"ImproperlyConfigured: celery {role} refuses to start: {source} ({where}) is a transaction-pooling"
            " proxy (PgBouncer pool_mode=transaction), which cannot keep the session-level advisory locks of"
            ' periodic jobs; set DATABASE_DIRECT_URL to PostgreSQL itself (docs/DEPLOYMENT.md "PgBouncer")\n'
        )
        sys.exit(2)
