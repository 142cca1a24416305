"""Run by test_replica.py in its own process, on a throwaway primary (DATABASE_URL) and its streaming
replica (DATABASE_REPLICA_URL, started with a short max_standby_streaming_delay): a customer's portal
page whose replica read is cancelled mid-page by a real recovery conflict, then one whose replica
backend is terminated mid-page. Prints one JSON object of what each step saw.

How a page's query is caught mid-flight: the page reads table A joined with B (FROM A JOIN B, so
PostgreSQL locks A, then B). A transaction on the primary takes ACCESS EXCLUSIVE on B; the standby
replays that lock, and the page's query on the replica, holding A, waits for B. Then:
- conflict: the primary's transaction locks A as well; the standby's startup process needs A, which
  the page's query holds, and after max_standby_streaming_delay cancels it — "canceling statement
  due to conflict with recovery" (SQLSTATE 40001), exactly what a vacuum or a lock on a busy
  primary does to a long report query;
- terminate: `pg_terminate_backend` of that replica backend (the connection lost mid-page).
Either way the primary's transaction then rolls back, and the page must still answer 200 with the
customer's miners, read again from the primary."""

import json
import logging
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hashinsight.settings")

import django

django.setup()

import psycopg2  # noqa: E402
from django.db import connections  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from prometheus_client import REGISTRY  # noqa: E402

from audit.services import Actor  # noqa: E402
from core.replica import REPLICA  # noqa: E402
from tenants.models import Role  # noqa: E402
from tenants.services import role_grant_create  # noqa: E402
from tests.factories import MinerFactory, SiteFactory, TenantFactory, UserFactory  # noqa: E402

MINERS = ["C-1", "C-2", "C-3"]
TABLES = re.compile(r'(?:FROM|JOIN)\s+"(\w+)"')


class Fallbacks(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        if record.getMessage() == "replica.fallback":
            self.records.append({"reason": record.reason, "error": record.error, "first_status": record.first_status})


def _connect(url: str):
    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


def _scalar(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
    return row[0] if row else None


def _wait(what: str, check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {what}")
        time.sleep(0.05)


def joined_tables(sqls: list[str], on_primary: list[str]) -> tuple[str, str]:
    """(A, B) of the first replica query FROM A JOIN B where no earlier query reads B, nor any of the
    page's primary reads (sessions, grants): the first page query that can be held on B while it
    holds A, with nothing else of the page waiting on the primary's lock of B."""
    primary_tables = {t for sql in on_primary for t in TABLES.findall(sql)}
    for i, sql in enumerate(sqls):
        tables = TABLES.findall(sql)
        if len(set(tables)) < 2:
            continue
        a, b = tables[0], next(t for t in tables if t != tables[0])
        if b not in primary_tables and not any(b in TABLES.findall(earlier) for earlier in sqls[:i]):
            return a, b
    raise AssertionError(f"no page query joins two tables: {sqls}")


class Interrupter(threading.Thread):
    """The primary's transaction and the replica's observer, beside the request (raw psycopg2: no
    Django connection is shared with the request's thread)."""

    def __init__(self, mode: str, a: str, b: str):
        super().__init__(daemon=True)
        self.mode, self.a, self.b = mode, a, b
        self.ready, self.seen, self.error = threading.Event(), {}, None

    def run(self):
        primary = psycopg2.connect(os.environ["DATABASE_URL"])
        nudge = _connect(os.environ["DATABASE_URL"])
        replica = _connect(os.environ["DATABASE_REPLICA_URL"])

        def lock(table: str) -> None:
            with primary.cursor() as cur:
                cur.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
            # The lock's WAL record is written, not yet flushed (its transaction is open): a commit
            # elsewhere flushes the WAL through it, and the standby receives it now.
            _scalar(nudge, "SELECT txid_current()")

        try:
            lock(self.b)
            held = "SELECT count(*) FROM pg_locks WHERE relation = %s::regclass AND mode = 'AccessExclusiveLock'"
            _wait("the standby replays the lock", lambda: _scalar(replica, held, [self.b]) >= 1)
            self.ready.set()
            waiting = (
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND backend_type = 'client backend' "
                "AND datname = current_database() AND query ILIKE %s"
            )
            _wait("the page's query waits on the replica", lambda: _scalar(replica, waiting, [f'%"{self.b}"%']))
            pid = _scalar(replica, waiting, [f'%"{self.b}"%'])
            self.seen["conflicts_before"] = _scalar(
                replica, "SELECT confl_lock FROM pg_stat_database_conflicts WHERE datname = current_database()"
            )
            if self.mode == "conflict":
                lock(self.a)
            else:
                self.seen["terminated"] = _scalar(replica, "SELECT pg_terminate_backend(%s)", [pid])
            still = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'"
            _wait("the page's replica query ended", lambda: _scalar(replica, still, [pid]) == 0)
        except BaseException as exc:  # reported by the main thread
            self.error = repr(exc)
            self.ready.set()
        finally:
            primary.rollback()  # the locks go; the page's run on the primary goes on
            for conn in (primary, nudge, replica):
                conn.close()


def interrupted_page(client, url: str, mode: str, a: str, b: str) -> dict:
    interrupter = Interrupter(mode, a, b)
    interrupter.start()
    assert interrupter.ready.wait(60), "the interrupter never got ready"
    with (
        CaptureQueriesContext(connections["default"]) as on_primary,
        CaptureQueriesContext(connections[REPLICA]) as on_replica,
    ):
        response = client.get(url)
    interrupter.join(60)
    assert interrupter.error is None, interrupter.error
    body = response.content.decode()
    return {
        "status": response.status_code,
        "shows": [m for m in MINERS if m in body],
        "primary_read_miners": any('"tenants_miner"' in q["sql"] for q in on_primary.captured_queries),
        "replica_queries": sum("pg_last_wal" not in q["sql"] for q in on_replica.captured_queries),
        **interrupter.seen,
    }


def conflicts(url: str) -> int:
    replica = _connect(url)
    try:
        return _scalar(replica, "SELECT confl_lock FROM pg_stat_database_conflicts WHERE datname = current_database()")
    finally:
        replica.close()


def main() -> dict:
    handler = Fallbacks()
    logging.getLogger("core.replica").addHandler(handler)
    actor = Actor.system("replica.test")
    tenant, site = TenantFactory(slug="conflict-t"), SiteFactory(code="SITE-C")
    for miner_id in MINERS:
        MinerFactory(site=site, tenant=tenant, miner_id=miner_id)
    user = UserFactory(username="conflict-customer")
    role_grant_create(actor=actor, user=user, role=Role.CUSTOMER, tenant=tenant)
    client = Client()
    client.force_login(user)
    url = f"/portal/t/{tenant.slug}/miners/"
    replica_url = os.environ["DATABASE_REPLICA_URL"]
    probe = _connect(replica_url)
    _wait("the miners on the replica", lambda: _scalar(probe, "SELECT count(*) FROM tenants_miner") >= len(MINERS))
    probe.close()

    with (
        CaptureQueriesContext(connections[REPLICA]) as on_replica,
        CaptureQueriesContext(connections["default"]) as on_primary,
    ):
        calm = client.get(url)
    sqls = [q["sql"] for q in on_replica.captured_queries if "pg_last_wal" not in q["sql"]]
    a, b = joined_tables(sqls, [q["sql"] for q in on_primary.captured_queries])
    out = {"calm": {"status": calm.status_code, "replica_queries": len(sqls)}, "tables": [a, b]}

    out["conflict"] = interrupted_page(client, url, "conflict", a, b)
    _wait("the conflict counted", lambda: conflicts(replica_url) > out["conflict"]["conflicts_before"], timeout=15)
    out["conflict"]["conflicts_after"] = conflicts(replica_url)
    out["terminate"] = interrupted_page(client, url, "terminate", a, b)
    out["after"] = {"status": client.get(url).status_code}
    out["fallbacks"] = handler.records
    out["metric"] = {
        reason: REGISTRY.get_sample_value("replica_fallbacks_total", {"reason": reason})
        for reason in ("recovery_conflict", "connection_lost")
    }
    return out


if __name__ == "__main__":
    print("RESULT " + json.dumps(main()))
