"""The pages people use, in a real headless Chromium (Debian's, driven by Playwright):
login through allauth, the NOC console for an operator, the portal for a customer and for an
operator looking in read-only."""

import datetime as dt
import os
import shutil

import pytest
from django.utils import timezone

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Playwright's sync API keeps an event loop on this thread; Django's ORM calls made by the test
# itself (fixtures) are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def _login(page, base, email, password="pw-Secret-123"):
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_an_operator_logs_in_and_sees_only_their_sites_miners(live_server, page, world, noc_x):
    noc_x.email = "noc-x@example.com"
    noc_x.save()
    _login(page, live_server.url, "noc-x@example.com")
    assert page.url.endswith("/admin/")
    assert page.locator("#site-name").inner_text() == "HashInsight NOC"
    page.goto(f"{live_server.url}/admin/tenants/miner/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == len(world.miners_a_x) + len(world.miners_b_x)
    assert "SITE-Y" not in page.content()


def test_a_customer_lands_on_their_own_fleet_and_cannot_open_the_console(live_server, page, world, customer_a):
    customer_a.email = "cust-a@example.com"
    customer_a.save()
    _login(page, live_server.url, "cust-a@example.com")
    assert page.url.endswith(f"/portal/t/{world.tenant_a.slug}/")
    assert page.locator("#total-miners").inner_text() == str(len(world.miners_a_x))
    assert world.tenant_b.name not in page.content()
    response = page.goto(f"{live_server.url}/admin/")
    assert response.status == 403


def test_a_customer_sees_only_their_miners_opens_a_chart_and_is_refused_another_tenants_miner(
    live_server, page, world, customer_a
):
    from portal.tests.data import insert_1m, live, receipt

    customer_a.email = "cust-a@example.com"
    customer_a.save()
    receipt(world.collector_x)
    mine = world.miners_a_x[0]
    live(mine)
    now = timezone.now().replace(second=0, microsecond=0)
    for minutes in range(5, 65, 5):
        insert_1m(mine.site_id, mine.tenant_id, mine.pk, now - dt.timedelta(minutes=minutes), hashrate=95_000.0)
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _login(page, live_server.url, "cust-a@example.com")
    page.click("nav >> text=Miners")
    table = page.locator("#miner-table").inner_text()
    for m in world.miners_a_x:
        assert m.miner_id in table
    for m in world.miners_b_x:  # tenant B's miners at the same site
        assert m.miner_id not in page.content()
    page.click(f"#miner-table >> text={mine.miner_id}")
    page.wait_for_selector("#miner-chart[data-rendered='1'] canvas")
    assert page.locator("#miner-chart canvas").count() >= 1
    assert errors == []
    other = world.miners_b_x[0]
    response = page.goto(f"{live_server.url}/portal/t/{world.tenant_a.slug}/miners/{other.site.code}/{other.miner_id}/")
    assert response.status == 403
    response = page.goto(f"{live_server.url}/portal/t/{world.tenant_b.slug}/")
    assert response.status == 403
    assert world.tenant_b.name not in page.content()


def test_an_operator_opens_a_tenants_portal_read_only_with_the_banner(live_server, page, world, noc_x):
    noc_x.email = "noc-x@example.com"
    noc_x.save()
    _login(page, live_server.url, "noc-x@example.com")
    page.goto(f"{live_server.url}/portal/")
    page.click(f"main >> text={world.tenant_b.name}")
    banner = page.locator("#operator-banner")
    assert banner.inner_text() == f"Viewing {world.tenant_b.name} as operator, read-only"
    assert page.locator("#total-miners").inner_text() == str(len(world.miners_b_x))  # site X only
    assert "SITE-Y" not in page.content()
    assert page.locator("form[method=post]").count() == 1  # sign out is the only form that posts


def test_a_wrong_password_keeps_the_visitor_on_the_login_page(live_server, page, world, noc_x):
    noc_x.email = "noc-x@example.com"
    noc_x.save()
    _login(page, live_server.url, "noc-x@example.com", password="not-the-password")
    assert "/accounts/login/" in page.url
    assert page.locator("form").first.is_visible()
