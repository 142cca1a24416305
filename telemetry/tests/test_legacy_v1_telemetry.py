"""Contract tests of the original application's /api/v1/telemetry… routes and
/api/sites/<id>/miners: requests as its clients sent them, the keys, types and status codes they
read; this project's own shapes on the same paths stay as they were."""

import datetime as dt

import pytest
from django.utils import timezone

from audit.services import Actor
from telemetry.tests.live_rows import live, receipt
from telemetry.tests.tier_rows import insert_1m
from tenants.models import SiteAlias
from tenants.site_identity import site_alias_add

pytestmark = pytest.mark.django_db
MINER_KEYS = {
    "miner_id",
    "site_id",
    "online",
    "state",
    "last_seen",
    "hashrate",
    "temperature",
    "power",
    "efficiency",
    "shares",
    "uptime_seconds",
    "pool",
    "hardware",
    "health",
    "error_message",
    "updated_at",
}
POINT_KEYS = {
    "ts",
    "hashrate_ths",
    "max_hashrate_ths",
    "min_hashrate_ths",
    "temp_c",
    "max_temp_c",
    "power_w",
    "online_ratio",
    "samples",
}


@pytest.fixture
def measured(world):
    receipt(world.collector_x, age_sec=5)
    for m in world.miners_a_x:
        live(m, hashrate=100_000.0, temp=70.0)
    live(world.miners_b_x[0], hashrate=90_000.0, temp=95.0)
    site_alias_add(actor=Actor.system("test"), site=world.site_x, value="17", kind=SiteAlias.Kind.LEGACY_ID)
    return world


# --- live -----------------------------------------------------------------------------------------


def test_live_as_the_original_client_asked_for_it(as_user, measured, noc_x):
    body = as_user(noc_x).get("/api/v1/telemetry/live", {"site_id": 17, "limit": 1000}).json()
    assert set(body) == {"miners", "count", "_meta"} and body["count"] == 5
    assert set(body["_meta"]) == {"source", "updated_at", "unit_definitions"}
    row = next(r for r in body["miners"] if r["miner_id"] == measured.miners_a_x[0].miner_id)
    assert set(row) == MINER_KEYS
    assert (row["site_id"], row["online"], row["hashrate"]["value"], row["temperature"]["max"]) == (
        "SITE-X",
        True,
        100.0,
        70.0,
    )
    assert isinstance(row["hashrate"]["unit"], str) and row["power"]["value"] is None


def test_live_filters_of_the_original(as_user, measured, noc_x, customer_a):
    client = as_user(noc_x)
    assert client.get("/api/v1/telemetry/live", {"limit": 1000}).json()["count"] == 5  # no site: the whole scope
    assert client.get("/api/v1/telemetry/live", {"online": "true"}).json()["count"] == 4
    miner = measured.miners_a_x[1].miner_id
    assert [r["miner_id"] for r in client.get("/api/v1/telemetry/live", {"miner_id": miner}).json()["miners"]] == [
        miner
    ]
    assert client.get("/api/v1/telemetry/live", {"limit": 2}).json()["count"] == 2
    body = as_user(customer_a).get("/api/v1/telemetry/live", {"online": "false"}).json()
    assert {r["miner_id"] for r in body["miners"]} == {m.miner_id for m in measured.miners_a_x}


def test_live_of_another_site_is_403_as_for_a_missing_one(as_user, measured, noc_x):
    client = as_user(noc_x)
    for site in ("SITE-Y", "999"):
        r = client.get("/api/v1/telemetry/live", {"site_id": site, "online": "true"})
        assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")


def test_this_projects_live_shape_stays_for_its_clients(as_user, measured, noc_x):
    client = as_user(noc_x)
    assert set(client.get("/api/v1/telemetry/live", {"site_id": "SITE-X"}).json()) == {"next", "previous", "results"}
    assert set(client.get("/api/v1/telemetry/live", {"site_id": "17", "format": "json"}).json()) == {
        "next",
        "previous",
        "results",
    }


# --- history --------------------------------------------------------------------------------------


def test_history_with_start_end_resolution_answers_series_and_meta(as_user, world, noc_x, customer_a):
    miner = world.miners_a_x[0]
    t0 = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=30)
    insert_1m(miner.site_id, miner.tenant_id, miner.pk, t0, hashrate=120_000.0)
    start, end = (t0 - dt.timedelta(hours=1)).isoformat(), (t0 + dt.timedelta(hours=1)).isoformat()
    query = {"site_id": "SITE-X", "miner_id": miner.miner_id, "start": start, "end": end}
    body = as_user(customer_a).get("/api/v1/telemetry/history", query).json()
    assert set(body) == {"series", "_meta"}
    assert set(body["_meta"]) == {"source", "resolution", "tier", "start", "end", "site_id"}
    assert (body["_meta"]["resolution"], body["_meta"]["tier"]) == ("auto", "1m")
    (series,) = body["series"]
    assert series["miner_id"] == miner.miner_id
    (point,) = series["data"]
    assert set(point) == POINT_KEYS and (point["hashrate_ths"], point["samples"]) == (120.0, 6)
    # a site over two days: the site's one series, at the tier whose bound fits
    query = {"site_id": "SITE-X", "start": start, "end": (t0 + dt.timedelta(days=2)).isoformat()}
    body = as_user(noc_x).get("/api/v1/telemetry/history", query).json()
    assert body["_meta"]["tier"] == "15m" and all(s["miner_id"] is None for s in body["series"])


def test_history_errors_of_the_original_client(as_user, world, noc_x, customer_b):
    client = as_user(noc_x)
    r = client.get("/api/v1/telemetry/history", {"site_id": "SITE-X", "start": "yesterday", "end": "2026-01-01"})
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER") and "error" in r.json()
    r = client.get("/api/v1/telemetry/history", {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"})
    assert r.status_code == 400
    query = {"site_id": "SITE-X", "miner_id": world.miners_a_x[0].miner_id}
    r = as_user(customer_b).get(
        "/api/v1/telemetry/history", {**query, "start": "2026-01-01T00:00:00Z", "end": "2026-01-01T01:00:00Z"}
    )
    assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")
    assert set(client.get("/api/v1/telemetry/history", {"site_id": "SITE-X"}).json()) == {
        "tier",
        "from",
        "to",
        "site_id",
        "miner_id",
        "points",
    }


# --- site-summary, miner/<id>, /api/sites/<id>/miners --------------------------------------------------


def test_site_summary(as_user, measured, noc_x, customer_a):
    body = as_user(noc_x).get("/api/v1/telemetry/site-summary", {"site_id": 17}).json()
    assert set(body) == {"site_id", "miners", "hashrate", "temperature", "power", "efficiency", "shares", "_meta"}
    assert body["miners"] == {"total": 5, "online": 4, "offline": 1, "unknown": 0, "online_rate": 0.8}
    assert (body["hashrate"]["total_ths"], body["temperature"]["max"]) == (390.0, 95.0)
    mine = as_user(customer_a).get("/api/v1/telemetry/site-summary", {"site_id": "SITE-X"}).json()
    assert (mine["miners"]["total"], mine["hashrate"]["total_ths"]) == (3, 300.0)
    r = as_user(noc_x).get("/api/v1/telemetry/site-summary")
    assert (r.status_code, r.json()["error_code"]) == (400, "INVALID_PARAMETER")
    r = as_user(noc_x).get("/api/v1/telemetry/site-summary", {"site_id": "SITE-Y"})
    assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")


def test_miner_telemetry_with_and_without_history(as_user, measured, customer_a, customer_b):
    miner = measured.miners_a_x[0]
    client = as_user(customer_a)
    body = client.get(f"/api/v1/telemetry/miner/{miner.miner_id}").json()
    assert set(body) == {"miner", "_meta"} and set(body["miner"]) == MINER_KEYS
    t0 = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=30)
    insert_1m(miner.site_id, miner.tenant_id, miner.pk, t0, hashrate=120_000.0)
    body = client.get(f"/api/v1/telemetry/miner/{miner.miner_id}", {"include_history": "true"}).json()
    assert set(body) == {"miner", "_meta", "history_24h"}
    assert [len(s["data"]) for s in body["history_24h"]["series"]] == [1]
    r = as_user(customer_b).get(f"/api/v1/telemetry/miner/{miner.miner_id}")
    assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")


def test_site_miners(as_user, measured, noc_x, customer_a, noc_y):
    body = as_user(noc_x).get("/api/sites/17/miners").json()
    assert set(body) == {"miners", "total"} and body["total"] == 5
    assert set(body["miners"][0]) == {"id", "name", "model", "zone", "state", "ip_encryption_mode"}
    mine = as_user(customer_a).get("/api/sites/SITE-X/miners").json()
    assert {m["id"] for m in mine["miners"]} == {m.miner_id for m in measured.miners_a_x}
    r = as_user(noc_y).get("/api/sites/SITE-X/miners")
    assert (r.status_code, r.json()["error_code"]) == (403, "FORBIDDEN")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/telemetry/live?online=true",
        "/api/v1/telemetry/history?site_id=SITE-X&start=2026-01-01T00:00:00Z&end=2026-01-01T01:00:00Z",
        "/api/v1/telemetry/site-summary?site_id=SITE-X",
        "/api/v1/telemetry/miner/S21_0001",
        "/api/sites/SITE-X/miners",
    ],
)
def test_anonymous_callers_get_401(client, world, path):
    assert client.get(path).status_code == 401
