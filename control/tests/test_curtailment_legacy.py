"""Contract tests of the original curtailment page's routes (/hosting/api/curtailment/calculate|execute|
cancel|emergency-restore|history): requests as curtailment_management.html sent them, the keys and status
codes it read, over the one curtailment path (second-person approval, audit), and cross-site isolation."""

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from control.models import Command, Curtailment, CurtailmentState
from control.services.curtailment import curtailments_tick
from control.tests.test_curtailment_api import fleet  # noqa: F401 — the fixture: site X's miners hashing
from control.tests.test_legacy_v1_commands import post

pytestmark = pytest.mark.django_db
H = "/hosting/api/curtailment"
C = CurtailmentState


def _execute(client, **changes):
    body = {"site_id": "SITE-X", "strategy_id": 1, "target_power_reduction_kw": 7.0, "execution_mode": "auto"}
    return post(client, f"{H}/execute", {**body, **changes})


def test_calculate_answers_the_plan_the_curtailment_would_pick(as_user, fleet, noc_x):  # noqa: F811
    r = post(
        as_user(noc_x), f"{H}/calculate", {"site_id": fleet.site_x.pk, "strategy_id": 3, "target_power_reduction_kw": 7}
    )
    assert r.status_code == 200, r.json()
    plan = r.json()["plan"]
    assert set(plan) >= {"selected_miners", "total_power_saved", "affected_customers", "economic_impact"}
    assert plan["total_power_saved"] == 7.0 and len(plan["selected_miners"]) == 2
    site_x = {m.pk for m in fleet.miners_a_x + fleet.miners_b_x}
    assert {m["id"] for m in plan["selected_miners"]} <= site_x
    assert not Curtailment.objects.exists()  # a calculation writes nothing


def test_execute_schedules_a_curtailment_that_waits_for_a_second_person(as_user, fleet, noc_x, ops_manager_x):  # noqa: F811
    r = _execute(as_user(noc_x), plan_name="DR-9 peak")
    assert r.status_code == 201, r.json()
    body = r.json()
    assert set(body) >= {"success", "plan_id", "status", "message"} and body["status"] == "pending"
    c = Curtailment.objects.get(pk=body["plan_id"])
    assert (c.state, c.reason, c.target_kw, c.created_by_id) == (C.SCHEDULED, "DR-9 peak", 7.0, noc_x.pk)
    assert AuditEvent.objects.filter(action="control.curtailment.created").exists()
    # auto mode approves nothing: the requester may not approve their own order
    r = post(as_user(noc_x), f"/api/admin/v1/curtailments/{c.pk}/approve", {"reason": "me"})
    assert r.status_code == 403
    r = post(as_user(ops_manager_x), f"/api/admin/v1/curtailments/{c.pk}/approve", {"reason": "ok"})
    assert r.status_code == 200
    curtailments_tick(now=timezone.now())
    c.refresh_from_db()
    assert c.state == C.ACTIVE
    history = as_user(noc_x).get(f"{H}/history", {"site_id": fleet.site_x.pk, "page": 1, "per_page": 20}).json()
    assert history["success"] is True and history["pagination"]["total"] == 1
    row = history["history"][0]
    assert (row["id"], row["site_id"], row["status"], row["target_power_reduction_kw"]) == (
        c.pk,
        fleet.site_x.pk,
        "executing",
        7.0,
    )
    assert isinstance(row["executed_at"], str)


def test_cancel_and_emergency_restore_re_enable_the_miners(as_user, fleet, noc_x, ops_manager_x):  # noqa: F811
    pk = _execute(as_user(noc_x)).json()["plan_id"]
    post(as_user(ops_manager_x), f"/api/admin/v1/curtailments/{pk}/approve", {"reason": "ok"})
    curtailments_tick(now=timezone.now())
    client = as_user(noc_x)
    r = post(client, f"{H}/emergency-restore", {"site_id": "SITE-X", "reason": "grid back"})
    assert r.status_code == 200, r.json()
    body = r.json()
    assert (body["cancelled_plans"], body["restored_count"]) == (1, 0)  # no disable reached a collector yet
    assert Curtailment.objects.get(pk=pk).state == C.CANCELED
    assert not Command.objects.filter(command_type="disable_hashing").exclude(state="canceled").exists()
    second = _execute(client, target_power_reduction_kw=3.0).json()["plan_id"]
    # a plan still waiting for its approval is not restored, as in the original
    r = post(client, f"{H}/emergency-restore", {"site_id": "SITE-X"})
    assert r.json() == {"success": True, "restored_count": 0, "message": "No active curtailment plans to restore"}
    assert Curtailment.objects.get(pk=second).state == C.SCHEDULED
    r = post(client, f"{H}/cancel", {"plan_id": second, "reason": "not needed"})
    assert r.status_code == 200 and r.json()["success"] is True and isinstance(r.json()["message"], str)
    assert Curtailment.objects.get(pk=second).state == C.CANCELED
    r = post(client, f"{H}/cancel", {"plan_id": second})
    assert (r.status_code, r.json()["error_code"], r.json()["success"]) == (409, "INVALID_TRANSITION", False)


def test_another_sites_curtailments_answer_like_missing_ones(as_user, fleet, noc_x, noc_y, customer_a):  # noqa: F811
    pk = _execute(as_user(noc_x)).json()["plan_id"]
    client = as_user(noc_y)
    for path, body in (
        ("cancel", {"plan_id": pk}),
        ("cancel", {"plan_id": 999_999}),
        ("calculate", {"site_id": "SITE-X", "target_power_reduction_kw": 5}),
        ("execute", {"site_id": fleet.site_x.pk, "target_power_reduction_kw": 5, "execution_mode": "manual"}),
        ("emergency-restore", {"site_id": "SITE-X"}),
    ):
        r = post(client, f"{H}/{path}", body)
        assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN"), path
    assert client.get(f"{H}/history").json()["history"] == []
    assert client.get(f"{H}/history", {"site_id": "SITE-X"}).status_code == 403
    assert Curtailment.objects.get(pk=pk).state == C.SCHEDULED
    assert as_user(customer_a).get(f"{H}/history").status_code == 403
