"""In a real headless Chromium: a customer's old bookmark of the original portal
(/hosting/client/miners) lands, after login, on this portal's Miners page of their tenant, and the
original pages' calls made from that browser session — fetch('/hosting/api/client/miners?…') and
the miner detail by integer id — answer the keys those pages read, with nothing of customer B."""

import pytest

from portal.tests import test_browser as tb
from portal.tests.data import live

pytestmark = pytest.mark.django_db(transaction=True)
browser, page = tb.browser, tb.page  # the module's Chromium and a fresh context per test

FETCH = "async (url) => { const r = await fetch(url); return {status: r.status, body: await r.json()}; }"


def test_an_old_bookmark_and_the_old_pages_calls_work_in_a_browser(live_server, page, world, customer_a):
    customer_a.email = "cust-a@example.com"
    customer_a.save()
    live(world.miners_a_x[0], hashrate=150_000.0)
    base = live_server.url
    page.goto(f"{base}/hosting/client/miners")
    assert "/accounts/login/" in page.url  # anonymous: the login page, then back to the bookmark
    page.fill("input[name=login]", "cust-a@example.com")
    page.fill("input[name=password]", "pw-Secret-123")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.url == f"{base}/portal/t/{world.tenant_a.slug}/miners/"
    assert world.miners_a_x[0].miner_id in page.content()

    listed = page.evaluate(FETCH, "/hosting/api/client/miners?page=1&per_page=20")
    assert listed["status"] == 200 and listed["body"]["success"] is True
    assert {m["id"] for m in listed["body"]["miners"]} == {m.pk for m in world.miners_a_x}
    assert listed["body"]["stats"]["active"] == 1 and listed["body"]["pagination"]["pages"] == 1
    own = page.evaluate(FETCH, f"/hosting/api/client/miners/{world.miners_a_x[0].pk}")
    assert (own["status"], own["body"]["device"]["status"]) == (200, "active")
    other = page.evaluate(FETCH, f"/hosting/api/client/miners/{world.miners_b_x[0].pk}")
    assert (other["status"], other["body"]["error_code"]) == (403, "FORBIDDEN")
