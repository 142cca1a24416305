"""The original operator pages' fleet reads (/hosting/api/miners, /miners/<id>, /miners/<id>/telemetry-history,
/sites, /sites/<id>, /overview; docs/COMPATIBILITY.md "/hosting/api (operator)"): one contract test per
route — the request as host_dashboard.html / miner_management.html / site_management.html sent it, the keys,
types and status codes they read — and the cross-site answers (a NOC of X naming Y's miner or site)."""

import datetime as dt

import pytest
from django.utils import timezone

from audit.services import Actor
from hosting.services.alerts import alert_raise
from hosting.services.work_orders import work_order_create
from portal.tests.data import bucket_row, insert_1m, live, receipt
from tenants.models import SiteAlias
from tenants.site_identity import site_alias_add

pytestmark = pytest.mark.django_db

H = "/hosting/api"
ROW = {"id", "site_id", "customer_id", "serial_number", "miner_model_name", "actual_hashrate", "actual_power", "status"}
ROW |= {"approval_status", "temperature_max", "last_seen", "cgminer_online", "telemetry", "site_name", "alerts"}
GETS = ("miners", "miners/1", "miners/1/telemetry-history", "sites", "sites/1", "overview")


def test_anonymous_401_and_customers_403_in_the_original_error_shape(client, as_user, world, customer_a):
    for path in GETS:
        r = client.get(f"{H}/{path}")
        assert r.status_code == 401 and r.json()["success"] is False, path
    mine = world.miners_a_x[0].pk
    for path in ("miners", f"miners/{mine}", f"miners/{mine}/telemetry-history", "sites", "overview"):
        r = as_user(customer_a).get(f"{H}/{path}")
        assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN"), path


def test_the_miner_list_answers_what_the_miner_management_page_reads(as_user, world, noc_x):
    first = world.miners_a_x[0]
    live(first, hashrate=150_000.0, temp=71.5)
    receipt(world.collector_x)
    for m in world.miners_b_y:
        live(m, hashrate=999_000.0)
    # miner_management.html: fetch(`/hosting/api/miners?page=1&per_page=20&sort_by=serial_number&sort_dir=asc`)
    r = as_user(noc_x).get(f"{H}/miners", {"page": 1, "per_page": 20, "sort_by": "serial_number", "sort_dir": "asc"})
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["success"] is True
    assert {k: body["counts"][k] for k in ("total", "active", "pending")} == {"total": 5, "active": 1, "pending": 0}
    assert body["pagination"] == {
        "page": 1,
        "pages": 1,
        "per_page": 20,
        "total": 5,
        "has_next": False,
        "has_prev": False,
    }
    ids = {m.pk for m in world.miners_a_x + world.miners_b_x}
    assert {m["id"] for m in body["miners"]} == ids  # site Y's miners never appear
    serials = [m["serial_number"] for m in body["miners"]]
    assert serials == sorted(serials)
    row = next(m for m in body["miners"] if m["id"] == first.pk)
    assert ROW <= set(row)
    assert (row["serial_number"], row["site_id"], row["site_code"]) == (first.miner_id, world.site_x.pk, "SITE-X")
    assert (row["actual_hashrate"], row["actual_power"], row["status"], row["state"]) == (
        150.0,
        3500,
        "active",
        "online",
    )
    assert row["customer_id"] == world.tenant_a.pk and row["approval_status"] == "approved"
    assert row["ip_address"] is None and row["health_score"] is None
    assert row["telemetry"]["live"] is True and row["telemetry"]["hashrate_ths"] == 150.0
    assert row["telemetry"]["temperature_max"] == 71.5 and row["fan_speeds"] == [5000, 5100]
    never = next(m for m in body["miners"] if m["id"] == world.miners_b_x[0].pk)
    assert never["telemetry"] == {"live": False} and never["status"] == "offline"


def test_the_miner_list_filters_sorts_and_pages_as_the_original(as_user, world, noc_x, owner):
    live(world.miners_a_x[1], hashrate=120_000.0)
    live(world.miners_a_x[2], hashrate=90_000.0)
    receipt(world.collector_x)
    client = as_user(noc_x)
    body = client.get(f"{H}/miners", {"status": "active", "sort_by": "actual_hashrate", "sort_dir": "desc"}).json()
    assert [m["id"] for m in body["miners"]] == [world.miners_a_x[1].pk, world.miners_a_x[2].pk]
    body = client.get(f"{H}/miners", {"customer_id": world.tenant_b.pk}).json()
    assert {m["id"] for m in body["miners"]} == {m.pk for m in world.miners_b_x}
    body = client.get(f"{H}/miners", {"per_page": 2, "page": 2}).json()
    assert (len(body["miners"]), body["pagination"]["pages"], body["pagination"]["has_prev"]) == (2, 3, True)
    for status in ("maintenance", "error"):
        assert client.get(f"{H}/miners", {"status": status}).json()["miners"] == []
    assert client.get(f"{H}/miners", {"approval_status": "pending_approval"}).json()["miners"] == []
    # the original's integer site id is the site's legacy_id alias once imported
    site_alias_add(actor=Actor.system("test"), site=world.site_y, value="17", kind=SiteAlias.Kind.LEGACY_ID)
    body = as_user(owner).get(f"{H}/miners", {"site_id": 17}).json()
    assert {m["id"] for m in body["miners"]} == {m.pk for m in world.miners_b_y}
    assert {m["site_id"] for m in body["miners"]} == {17}
    client = as_user(noc_x)  # the same test client: sign the NOC of X back in
    for site_id in (world.site_y.pk, 17, "SITE-Y"):
        r = client.get(f"{H}/miners", {"site_id": site_id})
        assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")
    r = client.get(f"{H}/miners", {"per_page": 501})
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER")


def test_the_miner_list_reads_a_page_in_a_fixed_number_of_queries(as_user, world, noc_x, django_assert_max_num_queries):
    for m in world.miners_a_x:
        live(m)
    client = as_user(noc_x)
    client.get(f"{H}/miners")  # warm the session
    with django_assert_max_num_queries(14):
        assert client.get(f"{H}/miners", {"per_page": 500}).status_code == 200


def test_one_miner_and_its_open_alerts_and_another_sites_miner_403(as_user, world, noc_x):
    miner = world.miners_a_x[0]
    live(miner, hashrate=150_000.0)
    alert_raise(
        actor=Actor.system("test"), site=world.site_x, kind="overheat", title="hot", severity="critical", miner=miner
    )
    client = as_user(noc_x)
    body = client.get(f"{H}/miners/{miner.pk}").json()
    assert body["success"] is True and ROW <= set(body["miner"])
    assert (body["miner"]["id"], body["miner"]["miner_model_name"], body["miner"]["site_location"]) == (
        miner.pk,
        miner.model,
        None,
    )
    assert [(a["type"], a["severity"]) for a in body["miner"]["alerts"]] == [("overheat", "critical")]
    for pk in (world.miners_b_y[0].pk, 999_999):
        for path in (f"miners/{pk}", f"miners/{pk}/telemetry-history"):
            r = client.get(f"{H}/{path}")
            assert (r.status_code, r.json()["error_code"], r.json()["success"]) == (403, "FORBIDDEN", False), path


def test_telemetry_history_is_the_last_day_of_minutes_else_the_last_quarter_hours(as_user, world, noc_x):
    miner, other = world.miners_a_x[0], world.miners_a_x[1]
    now = timezone.now().replace(second=0, microsecond=0)
    for minutes in (30, 20, 10):
        insert_1m(miner.site_id, miner.tenant_id, miner.pk, now - dt.timedelta(minutes=minutes), hashrate=120_000.0)
    client = as_user(noc_x)
    data = client.get(f"{H}/miners/{miner.pk}/telemetry-history").json()["data"]
    assert set(data) == {"timestamps", "hashrate", "temperature", "power_consumption"}
    assert len(data["timestamps"]) == 3 and data["hashrate"] == [120.0, 120.0, 120.0]
    assert data["temperature"] == [70.0, 70.0, 70.0] and data["power_consumption"] == [None, None, None]
    first = (now - dt.timedelta(minutes=30)).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert data["timestamps"][0] == first
    # nothing in the last day: the newest quarter-hours of the last 30 days (at most 50)
    q = now.replace(minute=now.minute - now.minute % 15) - dt.timedelta(days=3)
    for i in range(60):
        bucket_row(other, q - dt.timedelta(minutes=15 * i), hashrate=80_000.0)
    data = client.get(f"{H}/miners/{other.pk}/telemetry-history").json()["data"]
    assert len(data["timestamps"]) == 50 and set(data["hashrate"]) == {80.0}
    assert data["timestamps"] == sorted(data["timestamps"])


def test_sites_list_and_detail_in_the_original_keys(as_user, world, noc_x):
    live(world.miners_a_x[0], hashrate=150_000.0)
    receipt(world.collector_x)
    alert_raise(actor=Actor.system("test"), site=world.site_x, kind="custom", title="fan wall", severity="info")
    client = as_user(noc_x)
    # host_dashboard.html: fetch('/hosting/api/sites')
    body = client.get(f"{H}/sites").json()
    assert body["success"] is True
    assert [s["id"] for s in body["sites"]] == [world.site_x.pk]
    site = body["sites"][0]
    assert (site["name"], site["slug"], site["status"]) == (world.site_x.name, "SITE-X", "online")
    assert (site["device_count"], site["devices_count"], site["active_devices"]) == (5, 5, 1)
    assert site["capacity_mw"] is None and isinstance(site["created_at"], str)
    # site_management.html: fetch(`/hosting/api/sites/${siteId}`)
    detail = client.get(f"{H}/sites/{world.site_x.pk}").json()["site"]
    assert detail["id"] == world.site_x.pk
    stats = {s["status"]: s for s in detail["miners_stats"]}
    assert stats["active"] == {"status": "active", "count": 1, "total_hashrate": 150.0, "total_power": 3500}
    assert stats["offline"]["count"] == 4
    assert [(i["title"], i["severity"], i["status"]) for i in detail["recent_incidents"]] == [
        ("fan wall", "info", "firing")
    ]
    for pk in (world.site_y.pk, 999_999):
        r = client.get(f"{H}/sites/{pk}")
        assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")


def test_overview_counts_the_callers_scope_only(as_user, world, noc_x, noc_y):
    live(world.miners_a_x[0])
    receipt(world.collector_x)
    actor = Actor.system("test")
    alert_raise(actor=actor, site=world.site_x, kind="custom", title="x", severity="info")
    alert_raise(actor=actor, site=world.site_y, kind="custom", title="y", severity="info")
    work_order_create(actor=actor, user=noc_x, site=world.site_x, miner=None, title="fix", description="")
    # host_dashboard.html: fetch('/hosting/api/overview')
    data = as_user(noc_x).get(f"{H}/overview").json()["data"]
    assert data["sites"] == {"total": 1, "online": 1, "offline": 0}
    assert data["miners"] == {"total": 5, "active": 1, "inactive": 4}
    assert data["capacity"] == {"total_mw": None, "used_mw": None, "utilization_rate": None}
    assert (data["alerts"]["recent_incidents"], data["alerts"]["pending_tickets"]) == (1, 1)
    data = as_user(noc_y).get(f"{H}/overview").json()["data"]
    assert data["sites"] == {"total": 1, "online": 0, "offline": 1}
    assert (data["miners"]["total"], data["alerts"]["recent_incidents"], data["alerts"]["pending_tickets"]) == (2, 1, 0)
