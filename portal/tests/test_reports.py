"""The portal's Reports page through the test client: the month and site pickers, the figures and
charts of the SLA report, the download links, and who may open which tenant's and site's report."""

import datetime as dt

import pytest
import time_machine

from hosting.tests import test_sla_report as base

pytestmark = pytest.mark.django_db
month = base.month  # tenant A: every cause on 1–3 Nov 2026; B's miner at site X down all the time
TODAY = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)  # last full month: November


def reports_url(slug):
    return f"/portal/t/{slug}/reports/"


@pytest.fixture
def frozen():
    with time_machine.travel(TODAY, tick=False):
        yield


def test_the_default_is_the_last_full_month_with_figures_charts_and_downloads(frozen, month, customer_a, as_user):
    response = as_user(customer_a).get(reports_url(month.tenant_a.slug))
    assert response.status_code == 200
    body = response.content.decode()
    measured = 3 * 30 * 1440 - 20
    availability = round(100 * (measured - 85) / measured, 3)
    assert f'id="report-availability">{availability:.3f} %' in body
    assert 'id="availability-chart"' in body and 'id="causes-chart"' in body
    assert '<option value="2026-11" selected>November 2026</option>' in body
    slug = month.tenant_a.slug
    assert f"/api/v1/hosting/sla_report?tenant={slug}&amp;from=2026-11-01&amp;to=2026-12-01&amp;format=pdf" in body
    for a in month.miners_a_x:
        assert a.miner_id in body
    for b in month.miners_b_x + month.miners_b_y:
        assert b.miner_id not in body
    assert month.tenant_b.name not in body
    assert 'class="active">Reports</a>' in body


def test_this_month_and_one_site(frozen, month, customer_a, as_user):
    response = as_user(customer_a).get(reports_url(month.tenant_a.slug), {"month": "2026-12", "site": "SITE-X"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "counted until 5 December 2026 12:00 UTC" in body
    assert 'id="report-unplanned">0.0 <small>min</small>' in body
    assert "site_id=SITE-X" in body


def test_another_tenants_reports_or_a_site_without_own_miners_is_the_403_page(frozen, month, customer_a, as_user):
    client = as_user(customer_a)
    assert client.get(reports_url(month.tenant_b.slug)).status_code == 403
    assert client.get(reports_url("no-such-tenant")).status_code == 403
    response = client.get(reports_url(month.tenant_a.slug), {"site": "SITE-Y"})
    assert response.status_code == 403
    assert "SITE-Y" not in response.content.decode()


def test_an_operator_opens_a_tenants_reports_read_only(frozen, month, noc_x, as_user):
    response = as_user(noc_x).get(reports_url(month.tenant_b.slug), {"month": "2026-11"})
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="operator-banner"' in body
    assert 'id="report-availability">95.000 %' in body  # B at X: one of two miners down 3 of 30 days
    assert "SITE-Y" not in body
    assert body.count('method="post"') == 1  # sign out is the only form that posts


def test_the_page_costs_a_fixed_number_of_queries(frozen, month, customer_a, as_user, django_assert_max_num_queries):
    client = as_user(customer_a)
    with django_assert_max_num_queries(30):
        assert client.get(reports_url(month.tenant_a.slug)).status_code == 200
