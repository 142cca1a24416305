"""GET /api/v1/hosting/sla_report (JSON, CSV, PDF) and the legacy /hosting/api/client/reports:
who may ask for which tenant and site, what bad periods answer, and that a customer's download of
a shared site holds nothing of another customer's."""

import datetime as dt
import io

import pytest
import time_machine
from pypdf import PdfReader

from hosting.tests import test_sla_report as base
from tenants.models import MinerOwnership
from tests.factories import MinerFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/hosting/sla_report"
PERIOD = {"from": "2026-11-01", "to": "2026-11-04"}
month = base.month  # the three-day fixture with every cause (tenant A) and B's miner down at site X


def get(client, **params):
    return client.get(URL, {**PERIOD, **params})


def test_a_customer_gets_their_report_of_a_shared_site_as_json(month, customer_a, as_user):
    response = get(as_user(customer_a), site_id="SITE-X")
    assert response.status_code == 200
    body = response.json()
    assert body["summary"]["availability_pct"] == 99.343
    assert body["summary"]["unmeasured_minutes"] == 20
    assert body["summary"]["downtime_minutes"]["maintenance"] == 60
    assert body["period"]["from"].startswith("2026-11-01T00:00:00")
    assert [d["date"] for d in body["days"]] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert body["definitions"]["text"].startswith("# Downtime: definitions")
    text = response.content.decode()
    for b in month.miners_b_x:
        assert b.miner_id not in text
    assert month.tenant_b.name not in text


def test_the_csv_and_pdf_downloads(month, customer_a, as_user):
    client = as_user(customer_a)
    response = get(client, site_id="SITE-X", format="csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="sla-{month.tenant_a.slug}-SITE-X-20261101-20261104.csv"'
    )
    text = response.content.decode()
    assert "# availability_pct,99.343" in text
    assert all(b.miner_id not in text for b in month.miners_b_x)
    response = get(client, site_id="SITE-X", format="pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    pdf_text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    assert "99.343 %" in pdf_text and month.tenant_a.name in pdf_text
    assert all(b.miner_id not in pdf_text for b in month.miners_b_x)


def test_a_site_where_the_customer_has_no_miners_is_forbidden_like_a_missing_one(month, customer_a, as_user):
    client = as_user(customer_a)
    for site in ("SITE-Y", "NO-SUCH-SITE"):
        for fmt in ("json", "csv", "pdf"):
            response = get(client, site_id=site, format=fmt)
            assert response.status_code == 403
            assert response.json()["error_code"] == "FORBIDDEN"
    response = get(client, tenant=month.tenant_b.slug)
    assert (response.status_code, response.json()["error_code"]) == (403, "FORBIDDEN")


def test_an_operator_names_a_tenant_at_their_site_only(month, noc_x, as_user):
    client = as_user(noc_x)
    response = get(client, site_id="SITE-X", tenant=month.tenant_b.slug)
    assert response.status_code == 200
    body = response.json()
    assert {r["miner_id"] for r in body["miners"]} == {b.miner_id for b in month.miners_b_x}
    assert body["summary"]["availability_pct"] == 50.0
    assert get(client, site_id="SITE-Y").json()["error_code"] == "FORBIDDEN"
    # without tenant=: every tenant at their sites, never site Y
    body = get(client).json()
    assert {s["code"] for s in body["sites"]} == {"SITE-X"}
    assert body["summary"]["miners"] == 5


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-11-04", "to": "2026-11-01"},  # reversed
        {"from": "2026-11-01", "to": "2026-11-01"},  # empty
        {"from": "yesterday", "to": "2026-11-04"},
        {"from": "2026-02-30", "to": "2026-03-04"},
        {"from": "2026-11-01"},  # half a period
        {"from": "2025-01-01", "to": "2026-11-04"},  # over SLA_REPORT_MAX_DAYS
        {"format": "xlsx"},
    ],
)
def test_bad_periods_and_formats_are_400_with_an_error_code(month, customer_a, as_user, params):
    response = as_user(customer_a).get(URL, params)
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER"


def test_the_period_limit_is_a_setting(month, customer_a, as_user, settings):
    settings.SLA_REPORT_MAX_DAYS = 2
    assert get(as_user(customer_a)).status_code == 400
    settings.SLA_REPORT_MAX_DAYS = 3
    assert get(as_user(customer_a)).status_code == 200


def test_anonymous_callers_are_401(client, month):
    response = get(client)
    assert (response.status_code, response.json()["error_code"]) == (401, "UNAUTHENTICATED")


def test_the_query_count_does_not_grow_with_the_fleet(month, customer_a, as_user, django_assert_max_num_queries):
    client = as_user(customer_a)
    with django_assert_max_num_queries(20) as small:
        assert get(client, site_id="SITE-X").status_code == 200
    for _ in range(30):
        MinerFactory(site=month.site_x, tenant=month.tenant_a)
    MinerOwnership.objects.update(valid_from=base.D1 - dt.timedelta(days=30))
    with django_assert_max_num_queries(len(small.captured_queries)):
        body = get(client, site_id="SITE-X").json()
    assert body["summary"]["miners"] == 33


def test_the_legacy_client_reports_route_answers_its_original_shape(month, customer_a, as_user):
    with time_machine.travel(dt.datetime(2026, 11, 3, 12, 0, tzinfo=dt.UTC), tick=False):
        response = as_user(customer_a).get("/hosting/api/client/reports")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert set(body["stats"]) == {"monthly_uptime", "average_hashrate", "total_revenue", "efficiency"}
    # 1 Nov to 3 Nov 12:00: 3 miners × 3,600 minutes, 75 + 10 unplanned (all of day 3's up to noon: none)
    assert body["stats"]["monthly_uptime"] == round(100 * (3 * 3600 - 75) / (3 * 3600), 1)
    assert body["stats"]["total_revenue"] is None
    assert [r["period"] for r in body["reports"]] == ["2026-11", "2026-10"]
    assert body["reports"][0]["pdf"].endswith("format=pdf")
    assert "from=2026-11-01&to=2026-12-01" in body["reports"][0]["csv"]
    assert month.tenant_b.name not in response.content.decode()


def test_the_legacy_report_chart_gives_daily_delivered_hashrate_of_own_miners(month, customer_a, as_user):
    with time_machine.travel(dt.datetime(2026, 11, 3, 12, 0, tzinfo=dt.UTC), tick=False):
        response = as_user(customer_a).get("/hosting/api/client/reports/chart", {"period": "7d"})
    assert response.status_code == 200
    body = response.json()
    # 1 Nov: A's four quarter-hours at 150,000 GH/s = 9,000,000 GH/s·min over 1,440 min (B's rows never count)
    assert body["labels"] == ["11/01"]
    assert body["hashrate"] == [round(4 * 15 * 150_000 / 1440 / 1000, 3)]
    assert body["revenue"] == [None]
    assert set(body["breakdown"]) == {"mining_revenue", "pool_fees"}


def test_the_legacy_report_chart_refuses_a_site_without_own_miners(month, customer_a, as_user):
    response = as_user(customer_a).get("/hosting/api/client/reports/chart", {"site_id": "SITE-Y"})
    assert (response.status_code, response.json()["error_code"]) == (403, "FORBIDDEN")
    response = as_user(customer_a).get("/hosting/api/client/reports/chart", {"period": "1y"})
    assert (response.status_code, response.json()["error_code"]) == (400, "INVALID_PARAMETER")
