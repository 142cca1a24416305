"""The API tokens page in headless Chromium (fixtures of test_browser): a customer opens it from the
portal header, creates a token, sees it once, uses it with `requests` against the live server, and
revokes it — after which the same call answers 401 TOKEN_REVOKED."""

import pytest
import requests

from portal.tests.test_browser import _login, browser, page  # noqa: F401 — the shared fixtures
from tenants.models import PersonalToken

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_customer_creates_uses_and_revokes_a_token(live_server, page, world, customer_a):  # noqa: F811
    customer_a.email = "cust-a@example.com"
    customer_a.save()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: dialog.accept())  # the revoke confirmation
    _login(page, live_server.url, "cust-a@example.com")
    page.goto(f"{live_server.url}/portal/")
    page.click("#api-tokens-link")
    page.wait_for_selector("#token-form")
    assert page.locator("#token-list-empty").count() == 1
    page.fill("input[name=name]", "grafana export")
    page.fill("input[name=expires_in_days]", "7")
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("#token-created")
    plaintext = page.input_value("#token-plaintext")
    assert plaintext.startswith("hip_")
    assert f"Bearer {plaintext}" in page.locator("#token-curl").inner_text()
    page.click("#token-copy")
    assert page.locator("#token-copy").inner_text() == "Copied"
    token = PersonalToken.objects.get(user=customer_a)
    assert page.locator(f"#token-list tr[data-prefix='{token.prefix}'] .state").inner_text() == "active"

    api = f"{live_server.url}/api/client/miners"
    headers = {"Authorization": f"Bearer {plaintext}"}
    mine = requests.get(api, headers=headers, timeout=10)
    assert mine.status_code == 200
    assert world.miners_a_x[0].miner_id in mine.text and world.miners_b_x[0].miner_id not in mine.text
    other_site = requests.get(f"{live_server.url}/api/collector/live/SITE-Y", headers=headers, timeout=10)
    assert (other_site.status_code, other_site.json()["error_code"]) == (403, "FORBIDDEN")

    page.reload()  # shown once: a second look shows the prefix, never the token
    assert page.locator("#token-created").count() == 0 and plaintext not in page.content()
    page.locator(f"#token-list tr[data-prefix='{token.prefix}'] button").click()
    page.wait_for_load_state()
    assert page.locator(f"#token-list tr[data-prefix='{token.prefix}'] .state").inner_text().startswith("revoked")
    revoked = requests.get(api, headers=headers, timeout=10)
    assert (revoked.status_code, revoked.json()["error_code"]) == (401, "TOKEN_REVOKED")
    assert errors == []
