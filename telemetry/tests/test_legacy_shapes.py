"""Contract tests: the original application's telemetry reads under /api/collector/*, called as its
pages and collectors called them (integer site and miner ids, no site code), answer the keys,
types and units those clients read (docs/COMPATIBILITY.md, "/api/collector and /api/edge")."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.services import Actor
from telemetry.tests.live_rows import live, raw, receipt
from tenants.models import SiteAlias
from tenants.site_identity import site_alias_add
from tests.factories import MinerFactory

pytestmark = pytest.mark.django_db

LIVE_KEYS = {
    "miner_id": str,
    "ip_address": type(None),
    "online": bool,
    "last_seen": str,
    "hashrate_ths": float,
    "hashrate_5s_ths": float,
    "temperature_avg": (int, float),
    "temperature_max": (int, float),
    "fan_speeds": list,
    "accepted_shares": int,
    "rejected_shares": int,
    "uptime_hours": (int, float),
    "pool_url": str,
    "worker_name": str,
}


@pytest.fixture
def measured(world):
    receipt(world.collector_x, age_sec=5)
    for m in world.miners_a_x:
        live(m, hashrate=100_000.0, temp=70.0)
    live(world.miners_b_x[0], hashrate=1_000_000.0, temp=95.0)
    site_alias_add(actor=Actor.system("test"), site=world.site_x, value="17", kind=SiteAlias.Kind.LEGACY_ID)
    return world


def assert_types(row: dict, keys: dict) -> None:
    assert set(row) == set(keys)
    for name, kind in keys.items():
        assert isinstance(row[name], kind), (name, row[name])


def test_live_by_the_originals_integer_site_id_answers_data_miners_and_pagination(as_user, measured, customer_a):
    body = as_user(customer_a).get("/api/collector/live/17", {"page": 1, "per_page": 2}).json()
    assert set(body) == {"success", "data"} and body["success"] is True
    assert body["data"]["pagination"] == {"page": 1, "per_page": 2, "total": 3, "pages": 2}
    rows = body["data"]["miners"]
    assert [r["miner_id"] for r in rows] == sorted(m.miner_id for m in measured.miners_a_x)[:2]
    assert_types(rows[0], LIVE_KEYS)
    assert rows[0]["hashrate_ths"] == 100.0  # GH/s → TH/s, as the original
    assert "Z" not in rows[0]["last_seen"] and "+" not in rows[0]["last_seen"]  # naive UTC


def test_live_online_only_and_pk_fallback(as_user, world, noc_x):
    live(world.miners_a_x[0], online=False)
    live(world.miners_a_x[1])
    body = as_user(noc_x).get(f"/api/collector/live/{world.site_x.pk}", {"online_only": "true"}).json()
    assert [r["miner_id"] for r in body["data"]["miners"]] == [world.miners_a_x[1].miner_id]


def test_monitor_latest_is_newest_first_with_the_originals_keys(as_user, measured, noc_x):
    live(measured.miners_a_x[2], age_sec=1)
    body = as_user(noc_x).get("/api/collector/monitor/sites/17/miners/latest").json()
    assert body["data"]["pagination"]["per_page"] == 100
    rows = body["data"]["miners"]
    assert rows[0]["miner_id"] == measured.miners_a_x[2].miner_id
    assert {"updated_at", "hashrate_ghs", "hashrate_ths", "overall_health", "model", "uptime_seconds"} <= set(rows[0])
    assert rows[0]["overall_health"] == "healthy"


def test_summary_answers_the_originals_data_beside_this_projects_summary(as_user, measured, customer_b):
    body = as_user(customer_b).get("/api/collector/summary/17").json()
    assert body["data"] == {
        "total_miners": 2,
        "online_miners": 1,
        "offline_miners": 1,
        "total_hashrate_ths": 1000.0,
        "avg_temperature": 0,
        "max_temperature": 95.0,
        "online_rate": 50.0,
    }
    assert (body["site_id"], body["summary"]["miners"]) == ("SITE-X", 2)
    assert "temperature_avg" not in body["summary"]


def test_stats_keys_sites_by_the_integer_id(as_user, measured, noc_x, customer_a):
    body = as_user(noc_x).get("/api/collector/stats").json()
    assert set(body) == {
        "success",
        "total_sites",
        "active_collectors",
        "total_miners",
        "total_online",
        "active_alerts",
        "sites",
    }
    assert (body["total_sites"], body["total_miners"], body["total_online"]) == (1, 5, 4)
    assert (body["active_collectors"], body["active_alerts"]) == (1, 0)
    site = body["sites"]["17"]
    assert (site["total_miners"], site["online_miners"], site["total_hashrate_ths"]) == (5, 4, 1300.0)
    assert len(site["last_upload"]) == len("2026-01-01 00:00")
    mine = as_user(customer_a).get("/api/collector/stats").json()
    assert (mine["total_miners"], mine["active_collectors"], mine["active_alerts"]) == (3, None, None)
    assert mine["sites"]["17"]["last_upload"] is None


def test_this_projects_stats_shape_moved_to_v1(as_user, measured, noc_x):
    body = as_user(noc_x).get("/api/v1/telemetry/stats").json()
    assert [s["site_id"] for s in body["sites"]] == ["SITE-X"]
    assert (body["totals"]["miners"], body["ingest_24h"]["uploads"]) == (5, 1)


def test_miner_status_by_the_originals_integer_id(as_user, measured, customer_a):
    miner = measured.miners_a_x[0]
    body = as_user(customer_a).get(f"/api/collector/miners/{miner.pk}/status").json()
    assert set(body) == {"success", "miner", "performance", "pool", "boards", "revenue", "history_24h"}
    assert (body["miner"]["id"], body["miner"]["name"], body["miner"]["online"]) == (miner.pk, miner.miner_id, True)
    assert body["miner"]["last_seen"] == "Just now"
    assert body["performance"]["hashrate_ths"] == 100.0
    assert isinstance(body["history_24h"], list)


def test_miner_status_by_edge_id_keeps_this_projects_shape(as_user, measured, customer_a):
    miner = measured.miners_a_x[0]
    body = as_user(customer_a).get(f"/api/collector/miners/{miner.miner_id}/status").json()
    assert (body["site_id"], body["miner"]["miner_id"]) == ("SITE-X", miner.miner_id)


def test_another_tenants_miner_by_integer_id_is_forbidden_like_a_missing_one(as_user, measured, customer_a):
    client = as_user(customer_a)
    theirs = client.get(f"/api/collector/miners/{measured.miners_b_x[0].pk}/status")
    missing = client.get("/api/collector/miners/99999999/status")
    assert theirs.status_code == missing.status_code == 403
    assert theirs.json() == missing.json()


@pytest.mark.parametrize("path", ["/api/collector/live/{}", "/api/collector/summary/{}"])
def test_another_sites_integer_id_is_forbidden_like_a_missing_one(as_user, world, noc_x, path):
    client = as_user(noc_x)
    other, missing = client.get(path.format(world.site_y.pk)), client.get(path.format(99999999))
    assert other.status_code == missing.status_code == 403
    assert other.json() == missing.json()


def test_collector_status_answers_the_originals_data(client, measured):
    body = client.get("/api/collector/status", HTTP_X_COLLECTOR_KEY=measured.token_x, HTTP_X_SITE_ID="17").json()
    assert body["data"]["site_id"] == 17
    assert body["data"]["collector_name"] == "edge-x"
    assert (body["data"]["total_miners"], body["data"]["online_miners"]) == (4, 4)
    assert isinstance(body["data"]["last_upload"], str) and "Z" not in body["data"]["last_upload"]
    assert body["site_id"] == "SITE-X"  # this project's self-check stays beside it


def test_monitor_history_charts_one_metric_from_the_raw_tier(as_user, measured, customer_a):
    miner = measured.miners_a_x[0]
    now = timezone.now()
    for minutes, temp in ((30, 70.0), (20, 72.5)):
        raw(miner, now - dt.timedelta(minutes=minutes), temp=temp)
    r = as_user(customer_a).get(
        f"/api/collector/monitor/sites/17/miners/{miner.miner_id}/history", {"metric": "temperature_max", "hours": 2}
    )
    assert r.status_code == 200, r.json()
    data = r.json()["data"]
    assert (data["site_id"], data["metric"], data["layer"], data["count"]) == (17, "temperature_max", "raw_24h", 2)
    assert [p["value"] for p in data["points"]] == [70.0, 72.5]
    assert all(isinstance(p["timestamp"], str) for p in data["points"])


def test_monitor_history_refuses_an_unknown_metric_and_another_tenants_miner(as_user, measured, customer_a):
    client = as_user(customer_a)
    path = "/api/collector/monitor/sites/17/miners/{}/history"
    bad = client.get(path.format(measured.miners_a_x[0].miner_id), {"metric": "voltage"})
    assert bad.status_code == 400 and bad.json()["success"] is False
    theirs, missing = client.get(path.format(measured.miners_b_x[0].miner_id)), client.get(path.format("NO-SUCH"))
    assert theirs.status_code == missing.status_code == 403
    assert theirs.json() == missing.json()


@pytest.mark.parametrize(
    "path", ["/api/collector/live/17", "/api/collector/monitor/sites/17/miners/latest", "/api/collector/stats"]
)
def test_original_lists_cost_the_same_queries_for_more_miners(as_user, measured, noc_x, path):
    client = as_user(noc_x)
    client.get(path)  # session and scope caches warm
    with CaptureQueriesContext(connection) as few:
        client.get(path)
    for _ in range(5):
        live(MinerFactory(site=measured.site_x, tenant=measured.tenant_a))
    with CaptureQueriesContext(connection) as more:
        body = client.get(path).json()
    assert body["success"] is True
    assert len(more.captured_queries) == len(few.captured_queries)
