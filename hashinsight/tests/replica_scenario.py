"""Run by test_replica.py in its own process, with DATABASE_URL = a throwaway primary and
DATABASE_REPLICA_URL = its streaming replica: a customer opens the portal's miner list while the
replica is current, while its replay is paused (within and beyond REPLICA_MAX_LAG_SEC) and after it
resumes. Prints one JSON object of what each step saw."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hashinsight.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connections, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from audit.services import Actor  # noqa: E402
from core.replica import REPLICA, ReplicaRouter, replica_reads  # noqa: E402
from tenants.models import Miner, Role  # noqa: E402
from tenants.services import role_grant_create  # noqa: E402
from tests.factories import MinerFactory, SiteFactory, TenantFactory, UserFactory  # noqa: E402


def replica_has(miner_id: str) -> bool:
    with connections[REPLICA].cursor() as cur:
        cur.execute("SELECT count(*) FROM tenants_miner WHERE miner_id = %s", [miner_id])
        return cur.fetchone()[0] == 1


def wait_for(miner_id: str) -> None:
    deadline = time.monotonic() + 60
    while not replica_has(miner_id):
        assert time.monotonic() < deadline, f"{miner_id} never reached the replica"
        time.sleep(0.2)


def page(client, url, *miner_ids) -> dict:
    with CaptureQueriesContext(connections[REPLICA]) as on_replica, CaptureQueriesContext(connections["default"]):
        response = client.get(url)
    body = response.content.decode()
    return {
        "status": response.status_code,
        # what the page read there, the lag checks (one per read with REPLICA_LAG_CHECK_SEC=0) aside
        "replica_queries": sum("pg_last_wal" not in q["sql"] for q in on_replica.captured_queries),
        "shows": [m for m in miner_ids if m in body],
    }


def main() -> dict:
    actor = Actor.system("replica.test")
    tenant, site = TenantFactory(slug="replica-t"), SiteFactory(code="SITE-R")
    MinerFactory(site=site, tenant=tenant, miner_id="R-1")
    user = UserFactory(username="replica-customer")
    role_grant_create(actor=actor, user=user, role=Role.CUSTOMER, tenant=tenant)
    client = Client()
    client.force_login(user)  # the session is written to (and read from) the primary
    url = f"/portal/t/{tenant.slug}/miners/"
    wait_for("R-1")
    out = {"current": page(client, url, "R-1")}

    with connections[REPLICA].cursor() as cur:
        cur.execute("SELECT pg_wal_replay_pause()")
    MinerFactory(site=site, tenant=tenant, miner_id="LAG-1")
    time.sleep(2.5)
    settings.REPLICA_MAX_LAG_SEC = 3600  # behind, but within the bound: the replica still serves
    out["paused_within_bound"] = page(client, url, "R-1", "LAG-1")
    settings.REPLICA_MAX_LAG_SEC = 1  # beyond it: the primary serves
    out["paused_beyond_bound"] = page(client, url, "R-1", "LAG-1")
    with connections[REPLICA].cursor() as cur:
        cur.execute("SELECT pg_wal_replay_resume()")
    wait_for("LAG-1")
    out["resumed"] = page(client, url, "R-1", "LAG-1")

    router = ReplicaRouter()
    with replica_reads():
        out["scope_read"] = router.db_for_read(Miner)
        out["scope_write"] = router.db_for_write(Miner)
        out["scope_session_read"] = router.db_for_read(django.contrib.sessions.models.Session)
        with transaction.atomic():
            out["scope_read_in_transaction"] = router.db_for_read(Miner)
    out["outside_scope_read"] = router.db_for_read(Miner)
    out["replica_migrate"] = router.allow_migrate(REPLICA, "tenants")
    return out


if __name__ == "__main__":
    import django.contrib.sessions.models

    print("RESULT " + json.dumps(main()))
