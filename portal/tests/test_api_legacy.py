"""GET /api/client/dashboard|miner-distribution|miners: the original portal's shapes, scoped (the same
views as /hosting/api/client/*: portal/tests/test_legacy_hosting_client.py)."""

import pytest

from portal.tests.data import live, receipt
from tests.factories import MinerFactory

pytestmark = pytest.mark.django_db


def test_anonymous_callers_get_401(client, world):
    for path in ("/api/client/dashboard", "/api/client/miner-distribution", "/api/client/miners"):
        assert client.get(path).status_code == 401


def test_the_dashboard_counts_the_callers_miners_only(as_user, world, customer_a):
    receipt(world.collector_x)
    live(world.miners_a_x[0], hashrate=150_000.0)
    for m in world.miners_b_x:
        live(m, hashrate=999_000.0)
    body = as_user(customer_a).get("/api/client/dashboard").json()
    assert body["success"] is True
    assert body["stats"] == {
        "total_miners": 3,
        "active_miners": 1,
        "offline_miners": 2,
        "unknown_miners": 0,
        "total_hashrate": 150.0,
        "nominal_hashrate": 600.0,
        "monthly_revenue": None,
    }
    assert sorted(m["miner_id"] for m in body["recent_miners"]) == sorted(m.miner_id for m in world.miners_a_x)
    assert {m["site_id"] for m in body["recent_miners"]} == {"SITE-X"}


def test_naming_another_tenant_gets_the_same_403_as_a_missing_one(as_user, world, customer_a):
    client = as_user(customer_a)
    for path in ("/api/client/dashboard", "/api/client/miner-distribution", "/api/client/miners"):
        other = client.get(f"{path}?tenant={world.tenant_b.slug}")
        missing = client.get(f"{path}?tenant=no-such-tenant")
        assert other.status_code == missing.status_code == 403
        assert other.json() == missing.json()
        assert other.json()["error_code"] == "FORBIDDEN"


def test_the_distribution_lists_miners_per_site_for_the_caller(as_user, world, customer_b, noc_x):
    assert as_user(customer_b).get("/api/client/miner-distribution").json() == {
        "success": True,
        "labels": [world.site_x.name, world.site_y.name],
        "data": [2, 2],
    }
    body = as_user(noc_x).get("/api/client/miner-distribution").json()
    assert body["labels"] == [world.site_x.name] and body["data"] == [5]


def test_an_operator_narrows_to_one_tenant_at_their_sites(as_user, world, noc_x):
    body = as_user(noc_x).get(f"/api/client/miners?tenant={world.tenant_b.slug}").json()
    assert sorted(m["miner_id"] for m in body["miners"]) == sorted(m.miner_id for m in world.miners_b_x)


def test_the_miner_list_paginates(as_user, world, customer_a):
    for _ in range(7):
        MinerFactory(site=world.site_x, tenant=world.tenant_a)
    client = as_user(customer_a)
    body = client.get("/api/client/miners?page=2&per_page=4").json()
    assert body["pagination"] == {"page": 2, "per_page": 4, "total": 10, "pages": 3, "has_next": True, "has_prev": True}
    assert len(body["miners"]) == 4
    assert body["stats"] == {"total": 10, "active": 0, "pending": 0, "online": 0, "offline": 0, "unknown": 10}
    assert set(body["miners"][0]) == {
        "id",
        "serial_number",
        "state",
        "power_consumption",
        "uptime",
        "daily_revenue",
        "miner_id",
        "site_id",
        "site_name",
        "zone_id",
        "miner_model",
        "status",
        "hashrate",
        "nominal_hashrate",
        "temperature_max",
        "last_seen",
    }


def test_a_page_size_over_the_cap_is_refused(as_user, customer_a):
    response = as_user(customer_a).get("/api/client/miners?per_page=5000")
    assert response.status_code == 400
    assert response.json()["error_code"]


def test_the_routes_are_deprecated_in_the_openapi_schema(as_user, customer_a):
    schema = as_user(customer_a).get("/api/schema/?format=json").json()
    for path in ("/api/client/dashboard", "/api/client/miner-distribution", "/api/client/miners"):
        assert schema["paths"][path]["get"]["deprecated"] is True
