"""Work orders and events in a real headless Chromium (the fixtures of test_browser.py)."""

import pytest

from hosting.services.alerts import alert_raise
from hosting.services.work_orders import work_order_comment, work_order_create
from portal.tests.test_browser import _login, browser, page  # noqa: F401 — the browser fixtures, by name

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_customer_follows_a_work_order_and_its_events_and_is_refused_another_tenants(
    live_server,
    page,  # noqa: F811 — the imported fixture
    world,
    customer_a,
    noc_x,
):
    customer_a.email = "cust-a@example.com"
    customer_a.save()
    mine = work_order_create(actor=None, user=noc_x, site=world.site_x, miner=world.miners_a_x[0], title="Fan noise")
    work_order_comment(actor=None, user=noc_x, work_order=mine, body="Fan ordered, fitted tomorrow", public=True)
    work_order_comment(actor=None, user=noc_x, work_order=mine, body="vendor is slow again")
    theirs = work_order_create(actor=None, user=noc_x, site=world.site_x, miner=world.miners_b_x[0], title="B psu")
    alert_raise(site=world.site_x, miner=world.miners_a_x[1], kind="overheat", title="Miner runs hot")
    _login(page, live_server.url, "cust-a@example.com")
    page.click("nav >> text=Work orders")
    page.click("#work-order-table >> text=Fan noise")
    assert page.locator("#work-order-status").inner_text().lower() == "open"  # CSS capitalises the chip
    assert "Fan ordered, fitted tomorrow" in page.content() and "vendor is slow again" not in page.content()
    page.click("nav >> text=Events")
    events = page.locator("#event-table").inner_text()
    assert "Miner runs hot" in events and "Fan noise" in events and "B psu" not in events
    response = page.goto(f"{live_server.url}/portal/t/{world.tenant_a.slug}/work-orders/{theirs.pk}/")
    assert response.status == 403
    assert page.locator("form[method=post]").count() == 1  # sign out is the only form that posts
