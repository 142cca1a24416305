"""GET /api/collector/status for people (SPEC §11): per site in the caller's scope, miner counts per
state from the caller's miners only and, for operators, the site's collectors. Collectors keep
their self-check (tenants/tests/test_collector_auth.py)."""

import pytest

from telemetry.tests.live_rows import live, receipt
from tests.factories import CollectorFactory

pytestmark = pytest.mark.django_db
URL = "/api/collector/status"


@pytest.fixture
def measured(client, world):
    """Site X: its collector uploaded 5 s ago from box-1; A's miners online, B's first reports
    offline, B's second never reported. Site Y: its collector is silent, so B's miners there are unknown."""
    assert client.get(URL, HTTP_X_COLLECTOR_KEY=world.token_x, HTTP_X_DEVICE_ID="box-1").status_code == 200
    receipt(world.collector_x, age_sec=5)
    for m in world.miners_a_x:
        live(m)
    live(world.miners_b_x[0], online=False)
    CollectorFactory(site=world.site_x, name="edge-retired", is_active=False)
    return world


def sites_for(client, user) -> dict:
    client.force_login(user)
    response = client.get(URL)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["success"] is True and "token_prefix" not in body
    return {s["site_id"]: s for s in body["sites"]}


def test_anonymous_callers_get_401_unauthenticated(client, world):
    response = client.get(URL)
    assert (response.status_code, response.json()["error_code"]) == (401, "UNAUTHENTICATED")


def test_an_operator_sees_their_sites_collectors_and_every_miner_there(client, measured, noc_x):
    sites = sites_for(client, noc_x)
    assert list(sites) == ["SITE-X"]
    (collector,) = sites["SITE-X"]["collectors"]
    assert (collector["name"], collector["zone"], collector["devices"], collector["online"]) == (
        "edge-x",
        None,
        ["box-1"],
        True,
    )
    assert collector["last_seen"] is not None
    assert sites["SITE-X"]["miners"] == {"online": 3, "offline": 2, "unknown": 0}


def test_a_collector_that_stopped_uploading_is_offline_and_its_miners_unknown(client, measured, owner):
    sites = sites_for(client, owner)
    assert list(sites) == ["SITE-X", "SITE-Y"]
    (collector,) = sites["SITE-Y"]["collectors"]
    health = collector.pop("health")  # control/tests/test_collector_health.py
    assert collector == {"name": "edge-y", "zone": None, "last_seen": None, "devices": [], "online": False}
    assert (health["last_upload"], health["last_poll"], health["online"]) == (None, None, False)
    assert sites["SITE-Y"]["miners"] == {"online": 0, "offline": 0, "unknown": 2}


def test_a_customer_sees_only_sites_with_their_miners_counted_from_their_own_and_no_collectors(
    client, measured, customer_a
):
    sites = sites_for(client, customer_a)
    assert sites == {
        "SITE-X": {"site_id": "SITE-X", "collectors": None, "miners": {"online": 3, "offline": 0, "unknown": 0}}
    }


def test_a_customer_at_two_sites_sees_both_with_their_miners_only(client, measured, customer_b):
    sites = sites_for(client, customer_b)
    assert {code: s["miners"] for code, s in sites.items()} == {
        "SITE-X": {"online": 0, "offline": 2, "unknown": 0},
        "SITE-Y": {"online": 0, "offline": 0, "unknown": 2},
    }
    assert {s["collectors"] for s in sites.values()} == {None}


def test_the_answer_takes_the_same_queries_however_many_collectors(client, measured, owner, django_assert_num_queries):
    client.force_login(owner)
    # session, user, grants, sites, upload coverage, miners by state, collectors, and their health:
    # collectors (last upload, quarantine), uploads, rejected codes, devices, unknown ACKs
    with django_assert_num_queries(12) as first:
        client.get(URL)
    for i in range(5):
        CollectorFactory(site=measured.site_y, name=f"edge-y{i}")
    with django_assert_num_queries(len(first.captured_queries)):
        client.get(URL)
