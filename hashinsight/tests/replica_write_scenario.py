"""Run by test_replica.py in its own process, on a throwaway primary (DATABASE_URL) and its streaming
replica (DATABASE_REPLICA_URL). Two things, each a JSON part of the one RESULT line:

- `writes`: a replica-scoped page (hashinsight/tests/replica_urls.py) sends one statement to the
  primary — an INSERT, a data-modifying CTE, a read-only CTE — and then its replica read fails
  because the replica backend was terminated (pg_terminate_backend) in between. A run that wrote is
  not run again (its answer stands) yet its dead replica connection is closed and the replica marked
  unusable; the read-only CTE is a read, so that page is run again on the primary.
- `report`: the SLA report API in the replica scope: its raw-SQL figures (the day rows and the
  per-miner downtime, both CTEs) run on the replica; with the replica lagging beyond
  REPLICA_MAX_LAG_SEC they run on the primary; with the replica's backend terminated at the day rows
  statement the report is run again on the primary. Same figures every time."""

import datetime as dt
import json
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hashinsight.settings")

import django

django.setup()

import psycopg2  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connections  # noqa: E402
from django.test import Client  # noqa: E402
from prometheus_client import REGISTRY  # noqa: E402

from audit.services import Actor  # noqa: E402
from core import replica  # noqa: E402
from core.replica import REPLICA  # noqa: E402
from hashinsight.tests import replica_urls  # noqa: E402
from hosting.models import DowntimeInterval  # noqa: E402
from tenants.models import MinerOwnership, Role  # noqa: E402
from tenants.services import role_grant_create  # noqa: E402
from tests.factories import MinerFactory, SiteFactory, TenantFactory, UserFactory  # noqa: E402

PAGE = "/portal/tests/primary-then-replica"
REPORT = "/api/v1/hosting/sla_report"
DAYS_SQL, SUMMARY_SQL = "WITH days AS", "WITH owned AS"


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        if record.getMessage() in ("replica.failed_after_write", "replica.fallback"):
            self.records.append({"event": record.getMessage(), "reason": record.reason, "status": _status(record)})


def _status(record):
    return getattr(record, "status", None) or getattr(record, "first_status", None)


def _raw(url: str):
    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


def _scalar(url: str, sql: str, params=None):
    conn = _raw(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchone()[0]
    finally:
        conn.close()


def _wait(what: str, check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.1)


def fallbacks() -> float:
    return REGISTRY.get_sample_value("replica_fallbacks_total", {"reason": "connection_lost"}) or 0.0


class ReplicaBackend:
    """The replica connection of this process, known usable (the lag check cached), and a way to
    terminate its backend so that its next statement fails as a lost connection."""

    def prime(self) -> None:
        replica._last_check.clear()
        assert replica.replica_usable()  # cached for REPLICA_LAG_CHECK_SEC: the next read goes there
        with connections[REPLICA].cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            self.pid = cur.fetchone()[0]

    def kill(self) -> None:
        url = os.environ["DATABASE_REPLICA_URL"]
        assert _scalar(url, "SELECT pg_terminate_backend(%s)", [self.pid])
        gone = "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = %s"
        _wait("the replica backend gone", lambda: _scalar(url, gone, [self.pid]))


def write_case(client, backend: ReplicaBackend, lines: Lines, mode: str) -> dict:
    backend.prime()
    replica_urls.BEFORE_REPLICA_READ[:] = [backend.kill]
    before, logged = fallbacks(), len(lines.records)
    response = client.get(PAGE, {"mode": mode})
    replica_urls.BEFORE_REPLICA_READ.clear()
    with connections["default"].cursor() as cur:
        cur.execute("SELECT count(*) FROM replica_probe WHERE note = %s", [mode])
        rows = cur.fetchone()[0]
    out = {
        "status": response.status_code,
        "runs": replica_urls.RUNS[mode],
        "rows_written": rows,
        "replica_connection_closed": connections[REPLICA].connection is None,
        "marked_unusable": replica._last_check[0][1] is False,
        "fallbacks": fallbacks() - before,
        "logged": lines.records[logged:],
        "body": response.content.decode() if response.status_code == 200 else "",
    }
    return out


def report(client, *, fail_at_days: ReplicaBackend | None = None) -> dict:
    ran: dict[str, list[str]] = {"replica": [], "default": []}
    killed: list[str] = []

    def recorder(alias):
        def record(execute, sql, params, many, context):
            ran[alias].append(sql)
            if alias == "replica" and fail_at_days is not None and DAYS_SQL in sql and not killed:
                killed.append(sql)  # once: the run on the primary that follows is not interrupted
                fail_at_days.kill()
            return execute(sql, params, many, context)

        return record

    before = fallbacks()
    with (
        connections[REPLICA].execute_wrapper(recorder("replica")),
        connections["default"].execute_wrapper(recorder("default")),
    ):
        response = client.get(REPORT, {"from": "2026-11-01", "to": "2026-11-04", "site_id": "SITE-W"})
    body = response.json() if response.status_code == 200 else {}

    def on(marker):
        return [alias for alias in ("replica", "default") if any(marker in s for s in ran[alias])]

    return {
        "status": response.status_code,
        "days_sql_on": on(DAYS_SQL),
        "summary_sql_on": on(SUMMARY_SQL),
        "days": [(d["date"], d.get("downtime_minutes", {}).get("offline")) for d in body.get("days", [])],
        "offline_minutes": body.get("summary", {}).get("downtime_minutes", {}).get("offline"),
        "fallbacks": fallbacks() - before,
    }


def main() -> dict:
    settings.ROOT_URLCONF = "hashinsight.tests.replica_urls"
    settings.REPLICA_LAG_CHECK_SEC = 3600  # the scenario decides when the lag is checked (prime)
    lines = Lines()
    logging.getLogger("core.replica").addHandler(lines)
    with connections["default"].cursor() as cur:
        cur.execute("CREATE TABLE replica_probe (id serial PRIMARY KEY, note text NOT NULL)")
    actor = Actor.system("replica.test")
    tenant, site = TenantFactory(slug="write-t"), SiteFactory(code="SITE-W")
    miner = MinerFactory(site=site, tenant=tenant, miner_id="W-1")
    MinerOwnership.objects.filter(miner=miner).update(valid_from=dt.datetime(2026, 10, 1, tzinfo=dt.UTC))
    DowntimeInterval.objects.create(
        miner=miner,
        tenant=tenant,
        site=site,
        cause="offline",
        started_at=dt.datetime(2026, 11, 2, 10, tzinfo=dt.UTC),
        ended_at=dt.datetime(2026, 11, 2, 11, tzinfo=dt.UTC),
    )
    user = UserFactory(username="write-customer")
    role_grant_create(actor=actor, user=user, role=Role.CUSTOMER, tenant=tenant)
    client = Client(raise_request_exception=False)  # a view's error is its 500 answer, as in production
    client.force_login(user)
    replica_url = os.environ["DATABASE_REPLICA_URL"]
    _wait("the data on the replica", lambda: _scalar(replica_url, "SELECT count(*) FROM hosting_downtimeinterval") == 1)
    backend = ReplicaBackend()

    writes = {mode: write_case(client, backend, lines, mode) for mode in ("insert", "cte_write", "cte_read")}
    # After the failed write-run the replica is marked unusable: the next page reads the primary.
    seen = []
    with connections[REPLICA].execute_wrapper(lambda ex, sql, *a: seen.append(sql) or ex(sql, *a)):
        replica._last_check[:] = [(time.monotonic(), False)]
        after = client.get(f"/portal/t/{tenant.slug}/miners/")
    writes["next_page"] = {"status": after.status_code, "replica_statements": len(seen), "shows": "W-1" in after.text}

    out = {"writes": writes}
    backend.prime()
    out["report_current"] = report(client)
    with connections[REPLICA].cursor() as cur:
        cur.execute("SELECT pg_wal_replay_pause()")
    with connections["default"].cursor() as cur:
        cur.execute("INSERT INTO replica_probe (note) VALUES ('lag')")
    time.sleep(2.5)
    settings.REPLICA_MAX_LAG_SEC = 1
    replica._last_check.clear()
    out["report_lagging"] = report(client)
    settings.REPLICA_MAX_LAG_SEC = 30
    with connections[REPLICA].cursor() as cur:
        cur.execute("SELECT pg_wal_replay_resume()")
    _wait("replay resumed", lambda: _scalar(replica_url, "SELECT count(*) FROM replica_probe WHERE note = 'lag'") == 1)
    backend.prime()
    out["report_replica_lost"] = report(client, fail_at_days=backend)
    out["logged_report"] = lines.records[-1:]
    return out


if __name__ == "__main__":
    print("RESULT " + json.dumps(main()))
