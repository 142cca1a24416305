"""The original customer portal's /hosting/api/client/* and /hosting/client* (LEGACY_ROUTES.md
"Customer portal", docs/COMPATIBILITY.md "/hosting/api/client"): one contract test per route — the
request as the original page sent it, the keys, types and status codes the page reads — and the
cross-customer answers (customer A asking for customer B's miner id)."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from audit.services import Actor
from hosting.reports.sla import month_start, next_month
from portal.tests.data import bucket_row, live
from telemetry.models import TelemetryLive
from tenants.models import Miner, SiteAlias
from tenants.site_identity import site_alias_add

pytestmark = pytest.mark.django_db

H = "/hosting/api/client"
GETS = ("assets", "miners", "miners/1", "dashboard", "revenue-chart", "miner-distribution", "usage")
GETS += ("reports", "reports/chart")
POSTS = ("usage/generate-report", "reports/generate", "usage/alerts")
NOON = dt.datetime(2026, 11, 3, 12, 0, tzinfo=dt.UTC)


def _post(client, path, body=None):
    return client.post(f"{H}/{path}", body or {}, content_type="application/json")


def test_anonymous_callers_get_401_in_the_original_error_shape(client, world):
    answers = [client.get(f"{H}/{p}") for p in GETS] + [_post(client, p) for p in POSTS]
    for response in answers:
        assert response.status_code == 401, response.request["PATH_INFO"]
        body = response.json()
        assert body["success"] is False and isinstance(body["error"], str) and body["error_code"] == "UNAUTHENTICATED"


def test_assets_counts_the_callers_miners_with_string_hashrate_and_power(as_user, world, customer_a):
    live(world.miners_a_x[0], hashrate=150_000.0)
    for m in world.miners_b_x:
        live(m, hashrate=999_000.0)
    body = as_user(customer_a).get(f"{H}/assets").json()
    assert body["success"] is True
    assets = body["assets"]
    assert assets["total_devices"] == 3 and assets["active_devices"] == 1
    # the original sent these two as display strings; power is the online miners' nominal power
    assert assets["total_hashrate"] == "150.0 TH/s"
    assert assets["total_power"] == "3500 W"
    assert assets["monthly_revenue"] is None and assets["net_profit"] is None and assets["monthly_cost"] is None
    assert assets["sites"] == [
        {"site_id": "SITE-X", "site_name": world.site_x.name, "devices": 3, "active_devices": 1, "hashrate": 150.0}
    ]


def test_the_miner_list_answers_what_the_miners_page_reads(as_user, world, customer_a):
    first = world.miners_a_x[0]
    live(first, hashrate=150_000.0, temp=71.5)
    TelemetryLive.objects.filter(miner=first).update(uptime_seconds=45_000)
    # client_miners.html: fetch(`/hosting/api/client/miners?page=1&per_page=20`)
    body = as_user(customer_a).get(f"{H}/miners", {"page": 1, "per_page": 20}).json()
    assert body["success"] is True
    assert {k: body["stats"][k] for k in ("total", "active", "pending", "offline")} == {
        "total": 3,
        "active": 1,
        "pending": 0,
        "offline": 0,
    }
    assert {k: body["pagination"][k] for k in ("page", "pages", "total")} == {"page": 1, "pages": 1, "total": 3}
    row = next(m for m in body["miners"] if m["serial_number"] == first.miner_id)
    assert row["id"] == first.pk and isinstance(row["id"], int)
    assert row["miner_model"] == first.model and row["site_name"] == world.site_x.name
    assert (row["hashrate"], row["power_consumption"], row["status"], row["state"]) == (150.0, 3500, "active", "online")
    assert row["uptime"] == 12.5 and row["daily_revenue"] is None
    assert {m["id"] for m in body["miners"]} == {m.pk for m in world.miners_a_x}


def test_the_same_views_answer_at_both_prefixes(as_user, world, customer_a):
    client = as_user(customer_a)
    for route in ("dashboard", "miner-distribution", "miners?page=1&per_page=2"):
        assert client.get(f"/api/client/{route}").json() == client.get(f"{H}/{route}").json()


def test_a_miner_by_its_integer_id(as_user, world, customer_a):
    miner = world.miners_a_x[1]
    live(miner, hashrate=120_000.0, temp=66.0)
    response = as_user(customer_a).get(f"{H}/miners/{miner.pk}")
    assert response.status_code == 200
    device = response.json()["device"]
    assert (device["id"], device["serial_number"], device["site_name"]) == (miner.pk, miner.miner_id, world.site_x.name)
    assert (device["hashrate"], device["temperature"], device["status"]) == (120.0, 66.0, "active")
    assert all(device[k] is None for k in ("daily_revenue", "weekly_revenue", "monthly_revenue", "total_revenue"))


def test_customer_a_asking_for_customer_bs_miner_id_gets_the_answer_of_a_missing_id(
    as_user, world, customer_a, customer_b
):
    b_miner = world.miners_b_x[0]  # at the shared site X
    live(b_miner)
    missing = Miner.objects.order_by("-pk").first().pk + 1000
    client = as_user(customer_a)
    other, absent = client.get(f"{H}/miners/{b_miner.pk}"), client.get(f"{H}/miners/{missing}")
    assert other.status_code == absent.status_code == 403
    assert other.json() == absent.json()
    assert other.json()["success"] is False and other.json()["error_code"] == "FORBIDDEN"
    assert b_miner.miner_id not in other.content.decode()
    # naming the owner's tenant does not help customer A; the owner sees it
    assert client.get(f"{H}/miners/{b_miner.pk}", {"tenant": world.tenant_b.slug}).status_code == 403
    assert as_user(customer_b).get(f"{H}/miners/{b_miner.pk}").status_code == 200


def test_an_operator_sees_miners_at_their_sites_only(as_user, world, noc_x):
    client = as_user(noc_x)
    assert client.get(f"{H}/miners/{world.miners_b_x[0].pk}").status_code == 200
    assert client.get(f"{H}/miners/{world.miners_b_y[0].pk}").status_code == 403
    body = client.get(f"{H}/miners", {"page": 1, "per_page": 50}).json()
    assert {m["id"] for m in body["miners"]} == {m.pk for m in world.miners_a_x + world.miners_b_x}


def test_the_dashboard_answers_what_the_dashboard_page_reads(as_user, world, customer_a):
    live(world.miners_a_x[0], hashrate=150_000.0)
    body = as_user(customer_a).get(f"{H}/dashboard").json()
    assert body["success"] is True
    stats = body["stats"]
    assert (stats["total_miners"], stats["active_miners"], stats["total_hashrate"]) == (3, 1, 150.0)
    assert stats["monthly_revenue"] is None
    assert len(body["recent_miners"]) == 3
    for row in body["recent_miners"]:
        assert isinstance(row["id"], int) and {"serial_number", "miner_model", "site_name", "hashrate"} <= set(row)
        assert row["status"] in ("active", "offline", "unknown") and row["daily_revenue"] is None


def test_the_revenue_chart_answers_daily_delivered_hashrate_not_revenue(as_user, world, customer_a):
    day = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    for q in range(4):
        bucket_row(world.miners_a_x[0], day + dt.timedelta(minutes=15 * q), hashrate=150_000.0)
        bucket_row(world.miners_b_x[0], day + dt.timedelta(minutes=15 * q), hashrate=999_000.0)
    client = as_user(customer_a)
    with time_machine.travel(NOON, tick=False):
        # client_dashboard.html: fetch(`/hosting/api/client/revenue-chart?period=7d`)
        body = client.get(f"{H}/revenue-chart", {"period": "7d"}).json()
        refused = client.get(f"{H}/revenue-chart", {"period": "1y"})
    assert body == {
        "success": True,
        "labels": ["11-01"],
        "data": [round(4 * 15 * 150_000 / 1440 / 1000, 3)],
        "metric": "hashrate",
        "unit": "TH/s",
    }
    assert (refused.status_code, refused.json()["error_code"]) == (400, "INVALID_PARAMETER")


def test_the_miner_distribution_at_the_hosting_path(as_user, world, customer_b):
    assert as_user(customer_b).get(f"{H}/miner-distribution").json() == {
        "success": True,
        "labels": [world.site_x.name, world.site_y.name],
        "data": [2, 2],
    }


def test_usage_answers_the_usage_page_with_null_energy_and_cost(as_user, world, customer_a):
    live(world.miners_a_x[0])
    live(world.miners_a_x[1])
    with time_machine.travel(NOON, tick=False):
        body = as_user(customer_a).get(f"{H}/usage").json()
    assert body["success"] is True
    summary = body["summary"]
    assert summary["active_devices"] == 2 and summary["next_report_date"] == "2026-12-01"
    assert all(summary[k] is None for k in ("current_month_energy", "current_month_cost", "total_energy", "total_cost"))
    current = body["current_usage"]
    assert (current["report_date"], current["period_end"], current["usage_items"]) == ("2026-11-01", "2026-11-30", [])
    assert [h["period"] for h in body["history"]] == ["2026-11-01 - 2026-11-30", "2026-10-01 - 2026-10-31"]
    assert [h["status"] for h in body["history"]] == ["open", "closed"]
    assert "from=2026-10-01&to=2026-11-01" in body["history"][1]["pdf"]


def test_generate_usage_report_answers_this_months_sla_report(as_user, world, customer_a):
    response = _post(as_user(customer_a), "usage/generate-report")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and isinstance(body["message"], str) and body["report_id"] is None
    first = month_start(timezone.now())
    assert (body["report"]["from"], body["report"]["to"]) == (
        first.date().isoformat(),
        next_month(first).date().isoformat(),
    )
    assert body["report"]["summary"]["miners"] == 3
    assert body["report"]["pdf"].endswith("format=pdf")


def test_the_reports_card_and_chart_as_the_reports_page_calls_them(as_user, world, customer_a):
    site_alias_add(actor=Actor.system("test"), site=world.site_x, value="17", kind=SiteAlias.Kind.LEGACY_ID)
    client = as_user(customer_a)
    with time_machine.travel(NOON, tick=False):
        card = client.get(f"{H}/reports").json()
        # the original sent the integer site id: the site's legacy_id alias
        chart = client.get(f"{H}/reports/chart", {"period": "7d", "site_id": "17"})
    assert card["success"] is True and set(card["stats"]) >= {"monthly_uptime", "average_hashrate"}
    assert isinstance(card["reports"], list)
    assert chart.status_code == 200
    assert set(chart.json()) == {"success", "labels", "hashrate", "revenue", "breakdown"}


def test_generate_a_report_for_a_period(as_user, world, customer_a):
    client = as_user(customer_a)
    with time_machine.travel(NOON, tick=False):
        # client_reports.html: POST {report_type, start_date, end_date}
        response = _post(
            client, "reports/generate", {"report_type": "monthly", "start_date": "2026-10-01", "end_date": "2026-10-31"}
        )
        reversed_ = _post(client, "reports/generate", {"start_date": "2026-10-31", "end_date": "2026-10-01"})
        half = _post(client, "reports/generate", {"start_date": "2026-10-01"})
        other_site = _post(client, "reports/generate", {"site_id": "SITE-Y"})
        other_tenant = _post(client, "reports/generate", {"tenant": world.tenant_b.slug})
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["report_id"] is None and body["message"].startswith("monthly")
    assert (body["report"]["from"], body["report"]["to"]) == ("2026-10-01", "2026-11-01")
    assert "from=2026-10-01&to=2026-11-01" in body["report"]["csv"]
    for refused in (reversed_, half):
        assert (refused.status_code, refused.json()["error_code"]) == (400, "INVALID_PARAMETER")
    assert half.json()["field"] == "end_date"  # this route's own name for it (was the SLA API's `from`)
    for refused in (other_site, other_tenant):
        assert (refused.status_code, refused.json()["error_code"]) == (403, "FORBIDDEN")


def test_usage_alerts_are_refused_as_not_carried(as_user, world, customer_a):
    response = _post(as_user(customer_a), "usage/alerts", {"energy_threshold": 1000, "cost_threshold": 50})
    assert response.status_code == 410
    body = response.json()
    assert body["success"] is False and body["error_code"] == "NOT_CARRIED"
    assert body["message"] == body["error"] and "energy" in body["message"]


def test_the_original_pages_redirect_to_this_portal(client, as_user, world, customer_a, noc_x):
    assert client.get("/hosting/client").status_code == 302
    assert client.get("/hosting/client")["Location"].startswith("/accounts/login/")
    c = as_user(customer_a)
    for path, target in (
        ("/hosting/client", "/portal/t/tenant-a/"),
        ("/hosting/client/dashboard", "/portal/t/tenant-a/"),
        ("/hosting/client/miners", "/portal/t/tenant-a/miners/"),
        ("/hosting/client/usage", "/portal/t/tenant-a/reports/"),
        ("/hosting/client/reports", "/portal/t/tenant-a/reports/"),
        ("/hosting/client/tickets", "/portal/t/tenant-a/work-orders/"),
        ("/hosting/client/anything/else", "/portal/t/tenant-a/"),
    ):
        response = c.get(path)
        assert (response.status_code, response["Location"]) == (302, target), path
    # an operator with several tenants at their site picks one
    response = as_user(noc_x).get("/hosting/client/miners")
    assert (response.status_code, response["Location"]) == (302, "/portal/")


def test_the_routes_are_deprecated_in_the_openapi_schema(as_user, customer_a):
    paths = as_user(customer_a).get("/api/schema/?format=json").json()["paths"]
    for route in (*GETS, "miners/{miner_id}"):
        if route == "miners/1":
            continue
        assert paths[f"{H}/{route}"]["get"]["deprecated"] is True, route
    for route in POSTS:
        assert paths[f"{H}/{route}"]["post"]["deprecated"] is True, route
