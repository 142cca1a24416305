"""The pages people use, in a real headless Chromium (Debian's, driven by Playwright):
login through allauth, the NOC console for an operator, the landing page for a customer."""

import os
import shutil

import pytest

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
    assert page.locator("h2").inner_text() == f"My miners: {len(world.miners_a_x)}"
    assert world.tenant_b.name not in page.content()
    response = page.goto(f"{live_server.url}/admin/")
    assert response.status == 403


def test_a_wrong_password_keeps_the_visitor_on_the_login_page(live_server, page, world, noc_x):
    noc_x.email = "noc-x@example.com"
    noc_x.save()
    _login(page, live_server.url, "noc-x@example.com", password="not-the-password")
    assert "/accounts/login/" in page.url
    assert page.locator("form").first.is_visible()
