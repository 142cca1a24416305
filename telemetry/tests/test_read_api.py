"""Telemetry read APIs, v1 and legacy: scoped by role, 403 outside scope whether the object exists
or not, 401 for anonymous callers, 400 for malformed parameters."""

import datetime as dt

import pytest
from django.utils import timezone

from telemetry.tests.live_rows import live, raw, receipt
from telemetry.tests.tier_rows import insert_1m
from tests.factories import MinerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def measured(world):
    """Site X: its collector uploads; A's miners online (70 °C), B's first miner hot, B's second silent."""
    receipt(world.collector_x, age_sec=5, rejected=2, reasons=[{"index": 3, "code": "NEGATIVE_HASHRATE"}])
    for m in world.miners_a_x:
        live(m, hashrate=100.0, temp=70.0)
    live(world.miners_b_x[0], hashrate=1000.0, temp=95.0)
    return world


def miner_ids(rows) -> set[str]:
    return {r["miner_id"] for r in rows}


GET_PATHS = [
    "/api/v1/telemetry/live?site_id=SITE-X",
    "/api/v1/telemetry/history?site_id=SITE-X",
    "/api/collector/live/SITE-X",
    "/api/collector/summary/SITE-X",
    "/api/collector/stats",
    "/api/v1/telemetry/stats",
    "/api/collector/monitor/sites/SITE-X/miners/latest",
    "/api/collector/miners/S21_0001/status",
    "/api/collector/miners/1/status",
    "/api/sites",
    "/api/miners",
    "/api/miners/S21_0001/telemetry",
]


@pytest.mark.parametrize("path", GET_PATHS)
def test_anonymous_callers_get_401(client, world, path):
    response = client.get(path)
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED"


# --- v1 live --------------------------------------------------------------------------------------


def test_customer_on_a_shared_site_sees_only_their_own_miners(as_user, measured, customer_a):
    body = as_user(customer_a).get("/api/v1/telemetry/live?site_id=SITE-X").json()
    assert miner_ids(body["results"]) == {m.miner_id for m in measured.miners_a_x}
    row = body["results"][0]
    assert (row["state"], row["tenant"], row["zone"], row["hashrate_5s_ghs"]) == ("online", "tenant-a", "X1", 100.0)
    assert set(row) == {
        "miner_id",
        "zone",
        "tenant",
        "model",
        "state",
        "ts",
        "online",
        "hashrate_5s_ghs",
        "hashrate_ghs",
        "temperature_max",
        "temperature_avg",
        "frequency_avg",
        "fan_speeds",
        "uptime_seconds",
        "hardware_errors",
        "pool_url",
        "worker_name",
        "error_message",
    }


def test_operator_sees_every_tenant_at_their_site_with_states(as_user, measured, noc_x):
    rows = as_user(noc_x).get("/api/v1/telemetry/live?site_id=SITE-X").json()["results"]
    assert {r["miner_id"]: r["state"] for r in rows if r["tenant"] == "tenant-b"} == {
        measured.miners_b_x[0].miner_id: "online",
        measured.miners_b_x[1].miner_id: "offline",  # never reported while the collector uploads
    }


@pytest.mark.parametrize(
    ("persona", "site"),
    [("customer_a", "SITE-Y"), ("customer_a", "NO-SUCH-SITE"), ("noc_x", "SITE-Y"), ("noc_x", "NO-SUCH-SITE")],
)
def test_a_site_outside_scope_is_forbidden_whether_it_exists_or_not(as_user, world, request, persona, site):
    response = as_user(request.getfixturevalue(persona)).get(f"/api/v1/telemetry/live?site_id={site}")
    assert response.status_code == 403
    assert response.json() == {"success": False, "error_code": "FORBIDDEN", "error": "not found or not yours"}


def test_filtering_on_another_tenant_is_forbidden_for_a_customer(as_user, world, customer_a):
    response = as_user(customer_a).get("/api/v1/telemetry/live?site_id=SITE-X&tenant=tenant-b")
    assert (response.status_code, response.json()["error_code"]) == (403, "FORBIDDEN")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("state=online", {"A0", "A1", "A2", "B0"}),
        ("state=offline", {"B1"}),
        ("state=unknown", set()),
        ("min_temp=90", {"B0"}),
        ("zone=X1", {"A0", "A1", "A2"}),
        ("tenant=tenant-b&state=online", {"B0"}),
    ],
)
def test_live_filters(as_user, measured, noc_x, query, expected):
    names = {m.miner_id: f"A{i}" for i, m in enumerate(measured.miners_a_x)} | {
        m.miner_id: f"B{i}" for i, m in enumerate(measured.miners_b_x)
    }
    rows = as_user(noc_x).get(f"/api/v1/telemetry/live?site_id=SITE-X&{query}").json()["results"]
    assert {names[r["miner_id"]] for r in rows} == expected


@pytest.mark.parametrize(
    "query",
    [
        "",
        "site_id=SITE-X&state=sleeping",
        "site_id=SITE-X&min_temp=hot",
        "site_id=SITE-X&limit=0",
        "site_id=SITE-X&format=xml",
    ],
)
def test_malformed_live_parameters_are_400(as_user, world, noc_x, query):
    response = as_user(noc_x).get(f"/api/v1/telemetry/live?{query}")
    assert (response.status_code, response.json()["error_code"]) == (400, "INVALID_PARAMETER")


def test_live_is_cursor_paginated_by_miner_id(as_user, measured, noc_x):
    client = as_user(noc_x)
    page = client.get("/api/v1/telemetry/live?site_id=SITE-X&limit=2").json()
    seen = [r["miner_id"] for r in page["results"]]
    while page["next"]:
        page = client.get(page["next"]).json()
        seen += [r["miner_id"] for r in page["results"]]
    assert seen == sorted({m.miner_id for m in measured.miners_a_x + measured.miners_b_x})


def test_compact_format_returns_the_site_as_columns(as_user, measured, customer_a):
    body = as_user(customer_a).get("/api/v1/telemetry/live?site_id=SITE-X&format=compact").json()
    assert body["count"] == 3
    assert set(body["columns"]) == {"miner_id", "zone", "tenant", "state", "ts", "hashrate_5s_ghs", "temperature_max"}
    assert all(len(col) == 3 for col in body["columns"].values())
    assert body["columns"]["miner_id"] == sorted(m.miner_id for m in measured.miners_a_x)
    assert body["summary"] == {
        "miners": 3,
        "online": 3,
        "offline": 0,
        "unknown": 0,
        "hashrate_5s_ghs": 300.0,
        "temperature_max": 70.0,
    }
    assert body["columns"]["ts"][0].endswith("Z") and body["stale_sec"] == 300


def test_compact_format_for_an_empty_selection(as_user, measured, noc_x):
    body = as_user(noc_x).get("/api/v1/telemetry/live?site_id=SITE-X&format=compact&state=unknown").json()
    assert body["count"] == 0 and body["columns"]["miner_id"] == []


def test_live_query_count_does_not_grow_with_miners(as_user, measured, noc_x, django_assert_num_queries):
    client = as_user(noc_x)
    # session, user, role grants, site, coverage, rows
    with django_assert_num_queries(6):
        assert client.get("/api/v1/telemetry/live?site_id=SITE-X&format=compact").status_code == 200
    for m in MinerFactory.create_batch(20, site=measured.site_x, tenant=measured.tenant_a):
        live(m)
    with django_assert_num_queries(6):
        assert client.get("/api/v1/telemetry/live?site_id=SITE-X&format=compact").json()["count"] == 25
    with django_assert_num_queries(6):
        assert len(client.get("/api/v1/telemetry/live?site_id=SITE-X").json()["results"]) == 25


# --- v1 history ---------------------------------------------------------------------------------------


def test_miner_history_by_site_and_miner_id(as_user, world, customer_a):
    miner = world.miners_a_x[0]
    t0 = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=30)
    insert_1m(miner.site_id, miner.tenant_id, miner.pk, t0, hashrate=120.0)
    body = as_user(customer_a).get(f"/api/v1/telemetry/history?miner_id=SITE-X/{miner.miner_id}&tier=1m").json()
    assert (body["site_id"], body["miner_id"], body["tier"]) == ("SITE-X", miner.miner_id, "1m")
    (point,) = body["points"]
    assert (point["hashrate_5s_avg"], point["samples"], point["corrected"]) == (120.0, 6, False)


def test_raw_history_of_a_miner(as_user, world, noc_x):
    miner = world.miners_b_x[0]
    t0 = timezone.now() - dt.timedelta(minutes=5)
    raw(miner, t0, hashrate=90.0)
    start = (t0 - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = (
        as_user(noc_x).get(f"/api/v1/telemetry/history?miner_id=SITE-X/{miner.miner_id}&tier=raw&from={start}").json()
    )
    assert [p["hashrate_5s_ghs"] for p in body["points"]] == [90.0]


def test_site_history_for_a_customer_sums_their_miners_only(as_user, world, customer_a):
    t0 = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=10)
    for m in world.miners_a_x + world.miners_b_x:
        insert_1m(m.site_id, m.tenant_id, m.pk, t0, hashrate=100.0)
    (point,) = as_user(customer_a).get("/api/v1/telemetry/history?site_id=SITE-X&tier=1m").json()["points"]
    assert (point["miners"], point["hashrate_5s_ghs"]) == (3, 300.0)


@pytest.mark.parametrize(
    "query",
    [
        "tier=1m",  # neither miner nor site
        "site_id=SITE-X&tier=raw",  # raw is per miner
        "site_id=SITE-X&tier=1m&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",  # > 6 h for a site
        "miner_id=SITE-X/{a}&tier=raw&from=2026-01-01T00:00:00Z&to=2026-01-03T00:00:00Z",  # > 1 day raw
        "site_id=SITE-X&tier=5m",
        "site_id=SITE-X&from=yesterday",
        "site_id=SITE-X&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
    ],
)
def test_history_rejects_unbounded_or_malformed_queries(as_user, world, owner, query):
    query = query.format(a=world.miners_a_x[0].miner_id)
    response = as_user(owner).get(f"/api/v1/telemetry/history?{query}")
    assert (response.status_code, response.json()["error_code"]) == (400, "INVALID_PARAMETER")


def test_history_of_another_tenants_miner_is_forbidden_like_a_missing_one(as_user, world, customer_a):
    client = as_user(customer_a)
    theirs = client.get(f"/api/v1/telemetry/history?miner_id=SITE-X/{world.miners_b_x[0].miner_id}")
    missing = client.get("/api/v1/telemetry/history?miner_id=SITE-X/NO-SUCH-MINER")
    assert theirs.status_code == missing.status_code == 403
    assert theirs.json() == missing.json()


# --- legacy ----------------------------------------------------------------------------------------


def test_legacy_live_pages_the_callers_miners_of_the_site(as_user, measured, customer_b):
    body = as_user(customer_b).get("/api/collector/live/SITE-X").json()
    assert (body["success"], body["data"]["pagination"]["total"]) == (True, 2)
    assert miner_ids(body["data"]["miners"]) == {m.miner_id for m in measured.miners_b_x}


def test_legacy_summary_gives_a_customer_their_own_figures(as_user, measured, customer_b):
    body = as_user(customer_b).get("/api/collector/summary/SITE-X").json()
    assert body["success"] is True
    assert body["summary"] == {
        "miners": 2,
        "online": 1,
        "offline": 1,
        "unknown": 0,
        "hashrate_5s_ghs": 1000.0,
        "temperature_max": 95.0,
    }
    assert body["last_sample_at"] is not None


@pytest.mark.parametrize("path", ["/api/collector/live/{}", "/api/collector/summary/{}"])
def test_legacy_site_paths_forbid_other_sites_like_missing_ones(as_user, world, noc_x, path):
    client = as_user(noc_x)
    other, missing = client.get(path.format("SITE-Y")), client.get(path.format("SITE-NOPE"))
    assert other.status_code == missing.status_code == 403
    assert other.json() == missing.json()


def test_stats_shows_ingest_receipts_to_operators_only(as_user, measured, noc_x, customer_a):
    ops = as_user(noc_x).get("/api/v1/telemetry/stats").json()
    assert [s["site_id"] for s in ops["sites"]] == ["SITE-X"]
    assert (ops["totals"]["miners"], ops["totals"]["online"], ops["totals"]["hashrate_5s_ghs"]) == (5, 4, 1300.0)
    assert (ops["ingest_24h"]["uploads"], ops["ingest_24h"]["rejected"]) == (1, 2)
    mine = as_user(customer_a).get("/api/v1/telemetry/stats").json()
    assert (mine["totals"]["miners"], mine["totals"]["hashrate_5s_ghs"], mine["ingest_24h"]) == (3, 300.0, None)


def test_legacy_miner_status(as_user, measured, customer_a):
    miner = measured.miners_a_x[1]
    body = as_user(customer_a).get(f"/api/collector/miners/{miner.miner_id}/status").json()
    assert (body["success"], body["site_id"], body["miner"]["miner_id"], body["miner"]["state"]) == (
        True,
        "SITE-X",
        miner.miner_id,
        "online",
    )


@pytest.mark.parametrize("path", ["/api/collector/miners/{}/status", "/api/miners/{}/telemetry"])
def test_legacy_miner_paths_forbid_another_tenants_miner_like_a_missing_one(as_user, world, customer_a, path):
    client = as_user(customer_a)
    theirs, missing = client.get(path.format(world.miners_b_x[0].miner_id)), client.get(path.format("NO-SUCH-MINER"))
    assert theirs.status_code == missing.status_code == 403
    assert theirs.json() == missing.json() and theirs.json()["error_code"] == "FORBIDDEN"


def test_legacy_sites_lists_the_sites_in_scope_with_visible_miner_counts(as_user, world, customer_a, owner):
    assert as_user(customer_a).get("/api/sites").json() == {
        "success": True,
        "sites": [{"site_id": "SITE-X", "name": world.site_x.name, "timezone": "UTC", "miners": 3}],
    }
    assert [(s["site_id"], s["miners"]) for s in as_user(owner).get("/api/sites").json()["sites"]] == [
        ("SITE-X", 5),
        ("SITE-Y", 2),
    ]


def test_legacy_miners_lists_the_readers_miners_with_state(as_user, measured, customer_b):
    body = as_user(customer_b).get("/api/miners?limit=3").json()
    assert (body["success"], body["limit"], body["offset"], body["has_more"]) == (True, 3, 0, True)
    assert [m["site_id"] for m in body["miners"]] == ["SITE-X", "SITE-X", "SITE-Y"]
    assert {m["tenant"] for m in body["miners"]} == {"tenant-b"}
    rest = as_user(customer_b).get("/api/miners?limit=3&offset=3").json()
    assert (len(rest["miners"]), rest["has_more"]) == (1, False)
    assert as_user(customer_b).get("/api/miners?site_id=SITE-Y").json()["miners"][0]["state"] == "unknown"


def test_legacy_miners_filter_on_a_foreign_site_is_forbidden(as_user, world, noc_x):
    response = as_user(noc_x).get("/api/miners?site_id=SITE-Y")
    assert (response.status_code, response.json()["error_code"]) == (403, "FORBIDDEN")


def test_legacy_miner_telemetry_defaults_to_1m_buckets(as_user, world, customer_a):
    miner = world.miners_a_x[0]
    t0 = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(hours=1)
    insert_1m(miner.site_id, miner.tenant_id, miner.pk, t0, hashrate=80.0)
    body = as_user(customer_a).get(f"/api/miners/{miner.miner_id}/telemetry").json()
    assert (body["success"], body["tier"], [p["hashrate_5s_avg"] for p in body["points"]]) == (True, "1m", [80.0])
    too_long = as_user(customer_a).get(
        f"/api/miners/{miner.miner_id}/telemetry?tier=raw&from=2026-01-01T00:00:00Z&to=2026-01-05T00:00:00Z"
    )
    assert (too_long.status_code, too_long.json()["error_code"]) == (400, "INVALID_PARAMETER")
