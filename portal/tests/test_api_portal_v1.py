"""/api/v1/portal/*: the original portal-lite API in its shapes, over the consent services."""

import pytest
from django.test import Client

from audit.services import Actor
from control.models import CommandState, ConsentPolicy
from control.services import decisions
from control.services.poll import command_poll_lease
from control.tests.factories import operator_command, principal_for
from portal.tests.data import live, receipt
from tenants.personal_tokens import personal_token_create

pytestmark = pytest.mark.django_db
S = CommandState
V1 = "/api/v1/portal"


@pytest.fixture(autouse=True)
def _setup(settings, world):
    settings.COMMAND_BLAST_RADIUS_PCT = 100
    ConsentPolicy.objects.create(tenant=world.tenant_a, consent_types=["set_fan"], customer_types=["reboot"])


def bearer(user) -> Client:
    _, plaintext = personal_token_create(actor=Actor.user(user), user=user, name="script", expires_in_days=5)
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


def test_anonymous_callers_get_401_with_error(client):
    for path in ("my-miners", "my-approvals", "my-reports", "my-stats"):
        r = client.get(f"{V1}/{path}")
        assert r.status_code == 401 and "error" in r.json()
    assert client.post(f"{V1}/approvals/1/approve", {"reason": "x"}).status_code == 401


def test_operators_are_not_customers_here(as_user, noc_x):
    r = as_user(noc_x).get(f"{V1}/my-stats")
    assert r.status_code == 403 and r.json()["error_code"] == "FORBIDDEN" and "error" in r.json()


def test_my_miners_and_stats_are_the_customers_own(world, customer_a, noc_x):
    receipt(world.collector_x)
    live(world.miners_a_x[0], hashrate=150_000.0)
    for m in world.miners_b_x:
        live(m, hashrate=999_000.0)
    operator_command(noc_x, world.miners_a_x[1])  # waits for the owner
    api = bearer(customer_a)
    body = api.get(f"{V1}/my-miners").json()
    assert set(body) == {"miners", "total", "customer_id"}
    assert body["customer_id"] == "tenant-a" and body["total"] == 3
    assert sorted(m["miner_id"] for m in body["miners"]) == sorted(m.miner_id for m in world.miners_a_x)
    stats = api.get(f"{V1}/my-stats").json()
    assert stats["total_miners"] == 3 and stats["total_hashrate_th"] == 150.0 and stats["pending_approvals"] == 1
    assert isinstance(stats["total_power_w"], int)
    reports = api.get(f"{V1}/my-reports").json()
    assert set(reports) == {"reports", "total_assets", "customer_id"} and reports["total_assets"] == 3
    assert [r["site_id"] for r in reports["reports"]] == ["SITE-X"]


def test_the_gate_end_to_end_over_the_portal_api(world, customer_a, noc_x, ops_manager_x):
    c = operator_command(noc_x, world.miners_a_x[0])
    decisions.command_approve(actor=Actor.user(ops_manager_x), user=ops_manager_x, command=c, reason="ok")
    assert command_poll_lease(principal=principal_for(world.collector_x), limit=10) == []
    api = bearer(customer_a)
    pending = api.get(f"{V1}/my-approvals").json()
    assert pending["total"] == 1 and pending["pending"][0]["command_id"] == str(c.pk)
    assert pending["pending"][0]["operator_approved"] is True
    r = api.post(f"{V1}/approvals/{c.pk}/approve", {"reason": "go"}, content_type="application/json")
    assert r.status_code == 200 and r.json() == {"success": True, "command_status": "QUEUED"}
    wires = command_poll_lease(principal=principal_for(world.collector_x), limit=10)
    assert [w["command_id"] for w in wires] == [str(c.pk)]
    again = api.post(f"{V1}/approvals/{c.pk}/approve", {"reason": "go"}, content_type="application/json")
    assert again.status_code == 400 and "error" in again.json()


def test_deny_rejects_and_a_reason_is_required(world, customer_a, noc_x):
    c = operator_command(noc_x, world.miners_a_x[0])
    api = bearer(customer_a)
    r = api.post(f"{V1}/approvals/{c.pk}/deny", {}, content_type="application/json")
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMS"
    r = api.post(f"{V1}/approvals/{c.pk}/deny", {"reason": "no"}, content_type="application/json")
    assert r.json() == {"success": True, "command_status": "CANCELLED"}
    c.refresh_from_db()
    assert c.state == S.REJECTED
    assert command_poll_lease(principal=principal_for(world.collector_x), limit=10) == []


def test_another_tenants_customer_gets_404_and_nothing_changes(world, customer_b, noc_x):
    c = operator_command(noc_x, world.miners_a_x[0])
    api = bearer(customer_b)
    assert api.get(f"{V1}/my-approvals").json() == {"pending": [], "total": 0}
    for verb in ("approve", "deny"):
        r = api.post(f"{V1}/approvals/{c.pk}/{verb}", {"reason": "x"}, content_type="application/json")
        assert r.status_code == 404 and str(c.pk) not in r.content.decode()
        assert (
            api.post(f"{V1}/approvals/999999/{verb}", {"reason": "x"}, content_type="application/json").json()
            == r.json()
        )
    c.refresh_from_db()
    assert c.state == S.PROPOSED and c.owner_approved_by is None
