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
    assert [r["report_type"] for r in reports["reports"]] == ["sla_summary", "shadow_bill", "audit_summary"]


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


REPORT_KEYS = {"report_type", "name", "description", "available", "download_url", "period", "summary"}


def test_my_reports_carry_the_originals_three_reports_with_their_bodies(world, customer_a):
    body = bearer(customer_a).get(f"{V1}/my-reports").json()
    sla, bill, audit = body["reports"]
    assert all(REPORT_KEYS <= set(r) for r in body["reports"])
    assert (sla["available"], bill["available"], audit["available"]) == (True, False, True)
    assert isinstance(sla["summary"]["miners"], int) and {"availability_pct", "uptime_pct"} <= set(sla["summary"])
    assert sla["download_url"].startswith("http") and "format=json" in sla["download_url"]
    assert set(sla["downloads"]) == {"json", "csv", "pdf"}
    assert [s["site_id"] for s in sla["sites"]] == ["SITE-X"]
    assert (bill["summary"], bill["download_url"]) == (None, None) and bill["reason"]
    assert set(audit["summary"]) == {"events", "by_action", "first_seq", "last_seq"}
    assert sla["period"] == audit["period"]


def test_the_audit_summary_counts_the_tenants_own_chain_of_the_month(rf, world, customer_a, customer_b, noc_x):
    import datetime as dt

    from django.utils import timezone

    from audit.models import AuditEvent
    from portal.reports_v1 import my_reports_body

    operator_command(noc_x, world.miners_a_x[0])  # created: on tenant A's chain
    operator_command(noc_x, world.miners_b_x[0])  # tenant B's: never in A's summary
    request = rf.get(f"{V1}/my-reports")
    request.user = customer_a
    next_month = (timezone.now().replace(day=28) + dt.timedelta(days=5)).replace(day=2)
    body = my_reports_body(request, world.tenant_a, now=next_month)  # so "last month" is this one
    summary = body["reports"][2]["summary"]
    own = AuditEvent.objects.filter(chain_key=f"tenant:{world.tenant_a.pk}")
    assert summary["events"] == own.count() > 0
    assert summary["by_action"]["control.command.created"] == own.filter(action="control.command.created").count()
    assert summary["last_seq"] == max(own.values_list("seq", flat=True))
    assert body["reports"][0]["summary"]["miners"] == 3


def batch_of(noc, miners):
    from control.services import creation

    return creation.command_batch_create(
        actor=Actor.user(noc), user=noc, miners=miners, command_type="set_fan", params={"speed": 70}, reason="quiet"
    )


def test_a_batch_is_decided_all_or_none_over_the_portal_api(world, customer_a, noc_x, ops_manager_x):
    result = batch_of(noc_x, world.miners_a_x)
    first, second, third = sorted(result.created, key=lambda c: c.pk)
    decisions.command_reject(actor=Actor.user(ops_manager_x), user=ops_manager_x, command=second, reason="not now")
    api = bearer(customer_a)
    r = api.post(f"{V1}/approvals/{result.batch_id}/approve", {"reason": "all fine"}, content_type="application/json")
    assert (r.status_code, r.json()["error_code"]) == (400, "BATCH_NOT_DECIDABLE")
    assert set(r.json()["commands"]) == {str(second.pk)} and "error" in r.json()
    for c in (first, third):
        c.refresh_from_db()
        assert (c.state, c.owner_approved_by) == (S.PROPOSED, None)

    result = batch_of(noc_x, world.miners_a_x)
    r = api.post(f"{V1}/approvals/{result.batch_id}/approve", {"reason": "all fine"}, content_type="application/json")
    assert r.json() == {"success": True, "command_status": "PENDING_APPROVAL"}  # the operator's step is still due
    assert {c.owner_approved_by_id for c in batch_commands(result.batch_id)} == {customer_a.pk}
    r = api.post(
        f"{V1}/approvals/{result.batch_id}/deny", {"reason": "changed my mind"}, content_type="application/json"
    )
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_TRANSITION")


def batch_commands(batch_id):
    from control.models import Command

    return list(Command.objects.filter(batch_id=batch_id))
