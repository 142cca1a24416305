"""The operator curtailment API (/api/admin/v1/curtailments…) and its NOC console page: create,
list, detail with command counts and kW shed, approve, cancel; scoped to the operator's sites."""

import datetime as dt

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone

from control.models import Curtailment, CurtailmentState
from control.services.curtailment import curtailments_tick
from telemetry.models import TelemetryLive

pytestmark = pytest.mark.django_db
URL = "/api/admin/v1/curtailments"


@pytest.fixture
def fleet(world, settings):
    settings.COMMAND_BLAST_RADIUS_PCT = 100
    now = timezone.now()
    for miner in [*world.miners_a_x, *world.miners_b_x]:
        TelemetryLive.objects.create(
            miner=miner,
            site_id=miner.site_id,
            tenant_id=miner.tenant_id,
            ts=now,
            received_at=now,
            online=True,
            hashrate_5s_ghs=200_000.0,
        )
    return world


def body(**changes) -> dict:
    start = timezone.now() + dt.timedelta(minutes=10)
    out = {
        "site_id": "SITE-X",
        "start_at": start.isoformat(),
        "end_at": (start + dt.timedelta(hours=2)).isoformat(),
        "reason": "DR-7: utility peak event",
        "target_kw": 7.0,
    }
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


def test_an_operator_schedules_a_curtailment_and_another_approves_it(as_user, fleet, noc_x, ops_manager_x):
    r = as_user(noc_x).post(URL, body(), content_type="application/json")
    assert r.status_code == 201, r.json()
    data = r.json()
    assert data["state"] == "scheduled" and data["approved_by"] is None
    assert data["expected_kw"] == 7.0 and len(data["chosen"]) == 2
    assert data["commands"] == {"disable_hashing": {}, "enable_hashing": {}}
    pk = data["id"]
    r = as_user(noc_x).post(f"{URL}/{pk}/approve", {"reason": "me"}, content_type="application/json")
    assert (r.status_code, r.json()["error_code"]) == (403, "SELF_APPROVAL")
    r = as_user(ops_manager_x).post(f"{URL}/{pk}/approve", {"reason": "ok"}, content_type="application/json")
    assert r.status_code == 200 and r.json()["approved_by"] == "opsmgr-x"
    c = Curtailment.objects.get(pk=pk)
    TelemetryLive.objects.update(ts=c.start_at)  # still reporting at the start
    curtailments_tick(now=c.start_at)
    detail = as_user(noc_x).get(f"{URL}/{pk}").json()
    assert detail["state"] == "active"
    assert detail["commands"] == {"disable_hashing": {"queued": 2}, "enable_hashing": {}}
    assert detail["shed"]["baseline_kw"] == 7.0 and detail["shed"]["shed_kw"] == 0.0  # still hashing
    r = as_user(noc_x).post(f"{URL}/{pk}/cancel", {"reason": "called off"}, content_type="application/json")
    assert r.status_code == 200 and r.json()["state"] == "canceled"
    assert r.json()["commands"]["disable_hashing"] == {"canceled": 2}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"target_kw": 0}, "target_kw"),
        ({"target_kw": "lots"}, "target_kw"),
        ({"reason": None}, "reason"),
        ({"start_at": "tomorrow"}, "start_at"),
        ({"end_at": "2020-01-01T00:00:00Z"}, "end_at"),
    ],
)
def test_bad_input_is_400_curtailment_invalid_with_the_field(as_user, fleet, noc_x, changes, field):
    r = as_user(noc_x).post(URL, body(**changes), content_type="application/json")
    assert r.status_code == 400
    assert (r.json()["error_code"], r.json()["field"]) == ("CURTAILMENT_INVALID", field)
    assert not Curtailment.objects.exists()


def test_the_list_filters_by_site_and_state(as_user, fleet, noc_x, superuser):
    as_user(noc_x).post(URL, body(), content_type="application/json")
    client = as_user(noc_x)
    assert len(client.get(URL, {"state": "scheduled"}).json()["results"]) == 1
    assert client.get(URL, {"state": "active"}).json()["results"] == []
    assert client.get(URL, {"site_id": "SITE-Y"}).json()["results"] == []
    r = client.get(URL, {"state": "nonsense"})
    assert (r.status_code, r.json()["field"]) == (400, "state")


def test_the_list_costs_the_same_queries_for_one_or_three_curtailments(
    as_user, fleet, noc_x, django_assert_num_queries
):
    start = timezone.now() + dt.timedelta(minutes=10)
    client = as_user(noc_x)
    client.post(URL, body(), content_type="application/json")
    client.get(URL)
    # session, user, grants, the page: no query per row
    with django_assert_num_queries(4):
        assert len(client.get(URL).json()["results"]) == 1
    for n in (1, 2):
        later = start + dt.timedelta(hours=3 * n)
        changes = {"start_at": later.isoformat(), "end_at": (later + dt.timedelta(hours=1)).isoformat()}
        assert client.post(URL, body(**changes), content_type="application/json").status_code == 201
    with django_assert_num_queries(4):
        assert len(client.get(URL).json()["results"]) == 3


def test_another_sites_operator_gets_403_and_sees_none(as_user, fleet, noc_x, noc_y):
    pk = as_user(noc_x).post(URL, body(), content_type="application/json").json()["id"]
    client = as_user(noc_y)
    assert client.get(URL).json()["results"] == []
    assert client.get(f"{URL}/{pk}").status_code == 403
    assert client.get(f"{URL}/999999").status_code == 403
    assert client.post(f"{URL}/{pk}/cancel", {"reason": "x"}, content_type="application/json").status_code == 403
    assert client.post(URL, body(), content_type="application/json").status_code == 403  # SITE-X is not theirs
    assert Curtailment.objects.get(pk=pk).state == CurtailmentState.SCHEDULED


def test_customers_get_403_everywhere(as_user, fleet, noc_x, customer_a):
    pk = as_user(noc_x).post(URL, body(), content_type="application/json").json()["id"]
    client = as_user(customer_a)
    assert client.get(URL).status_code == 403
    assert client.get(f"{URL}/{pk}").status_code == 403
    assert client.post(URL, body(), content_type="application/json").status_code == 403


def test_the_console_lists_own_curtailments_and_approves_through_the_service(
    as_user, fleet, noc_x, noc_y, ops_manager_x, customer_a
):
    pk = as_user(noc_x).post(URL, body(), content_type="application/json").json()["id"]
    changelist = reverse("admin:control_curtailment_changelist")
    page = reverse("admin:control_curtailment_change", args=[pk])
    assert page in as_user(ops_manager_x).get(changelist).content.decode()
    assert page not in as_user(noc_y).get(changelist).content.decode()
    assert as_user(noc_y).get(page).status_code == 403
    assert as_user(customer_a).get(changelist).status_code == 403
    html = as_user(ops_manager_x).get(page).content.decode()
    assert "Chosen miners" in html and "not measured yet" in html
    client = as_user(ops_manager_x)
    confirm = client.post(changelist, {"action": "approve", ACTION_CHECKBOX_NAME: [pk]})
    assert confirm.status_code == 200 and b"Approve these curtailments?" in confirm.content
    client.post(changelist, {"action": "approve", ACTION_CHECKBOX_NAME: [pk], "apply": "1", "reason": "grid order"})
    c = Curtailment.objects.get(pk=pk)
    assert c.approved_by == ops_manager_x and c.approval_reason == "grid order"


def test_the_console_list_costs_the_same_queries_for_one_or_three(as_user, fleet, noc_x, django_assert_num_queries):
    changelist = reverse("admin:control_curtailment_changelist")
    start = timezone.now() + dt.timedelta(minutes=10)
    client = as_user(noc_x)
    client.post(URL, body(), content_type="application/json")
    client.get(changelist)
    # session, user, grants, the site filter's choices, the rows
    with django_assert_num_queries(6):
        client.get(changelist)
    for n in (1, 2):
        later = start + dt.timedelta(hours=3 * n)
        changes = {"start_at": later.isoformat(), "end_at": (later + dt.timedelta(hours=1)).isoformat()}
        client.post(URL, body(**changes), content_type="application/json")
    with django_assert_num_queries(6):
        assert client.get(changelist).content.decode().count("/change/") >= 3
