"""The Downtime page in headless Chromium (fixtures of test_browser): a customer opens it from the
nav, sees their availability, the timeline and their intervals, nothing of another tenant's."""

import datetime as dt

import pytest
from django.utils import timezone

from hosting.models import DowntimeInterval
from portal.tests.test_browser import _login, browser, page  # noqa: F401 — the shared fixtures
from tenants.models import MinerOwnership

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_customer_opens_the_downtime_page_from_the_nav(live_server, page, world, customer_a):  # noqa: F811
    customer_a.email = "cust-a@example.com"
    customer_a.save()
    now = timezone.now()
    MinerOwnership.objects.update(valid_from=now - dt.timedelta(days=40))
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    mine, theirs = world.miners_a_x[0], world.miners_b_x[0]
    for miner, cause in ((mine, "offline"), (theirs, "zero_hashrate")):
        DowntimeInterval.objects.create(
            miner=miner, tenant=miner.tenant, site=miner.site, cause=cause, started_at=start,
            ended_at=start + dt.timedelta(minutes=1), evidence={"minutes": 1},
        )  # fmt: skip
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _login(page, live_server.url, "cust-a@example.com")
    page.click("nav >> text=Downtime")
    page.wait_for_selector("#interval-table")
    assert page.locator("#availability").inner_text().endswith("%")
    assert page.locator("#timeline svg rect.c-offline").count() == 1
    rows = page.locator("#interval-table tbody tr")
    assert rows.count() == 1 and mine.miner_id in rows.inner_text()
    assert theirs.miner_id not in page.content()
    page.select_option("#period-month", index=1)  # last month: nothing
    page.click("#period-form button")
    page.wait_for_selector("#intervals-empty")
    assert errors == []
    response = page.goto(f"{live_server.url}/portal/t/{world.tenant_b.slug}/downtime/")
    assert response.status == 403
