"""GET /api/admin/v1/audit: operators see the events of their scope; everyone else is refused."""

import datetime as dt

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor, audit_record
from tenants.services import inventory_save

URL = "/api/admin/v1/audit"


@pytest.fixture
def api(client):
    def call(user=None, **params):
        if user is not None:
            client.force_login(user)
        return client.get(URL, params)

    return call


def test_noc_of_site_x_sees_site_x_events_only(api, world, noc_x):
    response = api(noc_x, limit=1000)
    assert response.status_code == 200
    sites = {row["site_id"] for row in response.json()["results"]}
    assert sites == {"SITE-X"}
    assert AuditEvent.objects.filter(site_code="SITE-Y").exists()


def test_noc_of_site_y_does_not_see_site_x_tenant_events(api, world, noc_y):
    rows = api(noc_y, limit=1000).json()["results"]
    assert rows and all(row["site_id"] == "SITE-Y" for row in rows)


def test_an_owner_sees_every_site(api, world, owner):
    sites = {row["site_id"] for row in api(owner, limit=1000).json()["results"]}
    assert {"SITE-X", "SITE-Y"} <= sites


def test_filters_by_entity_and_since(api, world, noc_x):
    miner = world.miners_a_x[0]
    actor = Actor.system("test")
    miner.model = "S21XP"
    inventory_save(actor=actor, obj=miner, changed=["model"])
    rows = api(noc_x, entity_type="tenants.miner", entity_id=str(miner.pk)).json()["results"]
    assert [r["action"] for r in rows] == ["tenants.miner.updated"]
    assert rows[0]["chain"] == f"tenant:{world.tenant_a.pk}"
    assert rows[0]["payload"]["fields"]["model"] == "S21XP"

    future = (timezone.now() + dt.timedelta(minutes=1)).isoformat()
    assert api(since=future).json()["results"] == []


def test_an_out_of_scope_entity_looks_empty(api, world, noc_x):
    miner_y = world.miners_b_y[0]
    audit_record(
        actor=Actor.system("test"),
        action="tenants.miner.updated",
        entity=miner_y,
        tenant_id=world.tenant_b.pk,
        site_code="SITE-Y",
    )
    assert api(noc_x, entity_type="tenants.miner", entity_id=str(miner_y.pk)).json()["results"] == []


def test_a_customer_gets_403_forbidden(api, world, customer_a):
    response = api(customer_a)
    assert response.status_code == 403
    assert response.json()["error_code"] == "FORBIDDEN"


def test_an_anonymous_caller_gets_401_unauthenticated(api, world):
    response = api()
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED"
    assert response["WWW-Authenticate"]


@pytest.mark.parametrize("params", [{"since": "yesterday"}, {"until": "2024-13-45"}, {"limit": "0"}, {"limit": "x"}])
def test_malformed_parameters_get_400_invalid_parameter(api, world, noc_x, params):
    response = api(noc_x, **params)
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "INVALID_PARAMETER"
    assert set(body["fields"]) == set(params)


def test_pages_walk_every_event_once_newest_first(api, world, owner):
    for n in range(7):
        audit_record(actor=Actor.system("test"), action="t.x", entity_type="t", entity_id=str(n), site_code="SITE-Y")
    total = AuditEvent.objects.count()
    assert total > 5
    seen = []
    page = api(owner, limit=4).json()
    while True:
        assert len(page["results"]) <= 4
        seen += [row["id"] for row in page["results"]]
        if not page["next"]:
            break
        page = api(**{"cursor": page["next"].split("cursor=")[1].split("&")[0], "limit": 4}).json()
    assert len(seen) == len(set(seen)) == total
    times = list(AuditEvent.objects.filter(id__in=seen).order_by("-occurred_at", "-id").values_list("id", flat=True))
    assert seen == times


def test_the_list_query_count_does_not_grow_with_events(api, client, world, noc_x, django_assert_num_queries):
    client.force_login(noc_x)
    with django_assert_num_queries(4):
        api()
    for n in range(10):
        audit_record(actor=Actor.system("test"), action="t.x", entity_type="t", entity_id=str(n), site_code="SITE-X")
    with django_assert_num_queries(4):
        assert len(api().json()["results"]) > 10
