"""MFA in a real headless Chromium: an operator without TOTP is made to enrol before the NOC
console (the code computed here from the secret the page shows), gets recovery codes, and signs in
again with password + TOTP; a new operator invited by email does the same with Microsoft sign-in
against the loopback OIDC issuer."""

import re

import pytest

from conftest import SETUP
from portal.tests.test_browser import _login, browser, page  # noqa: F401 — the shared fixtures
from tenants.invitations import invitation_create
from tenants.models import Role
from tenants.tests.oidc_issuer import oidc_issuer, provider_apps  # noqa: F401 — the issuer fixture
from tenants.tests.totp import totp

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _mfa_on(settings):
    settings.MFA_REQUIRED_FOR_OPERATORS = True
    settings.MFA_TOTP_TOLERANCE = 1  # sign-in uses the next window's code: one code is never accepted twice


def enrol(pg) -> str:
    assert pg.url.endswith("/accounts/2fa/totp/activate/")
    secret = pg.input_value("#authenticator_secret")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    pg.fill("input[name=code]", totp(secret))
    pg.click("button[type=submit]")
    pg.wait_for_load_state()
    assert pg.url.endswith("/accounts/2fa/recovery-codes/")
    codes = pg.input_value("#recovery_codes").split()
    assert len(codes) == 10
    return secret


def log_out(pg, base):
    pg.goto(f"{base}/accounts/logout/")
    pg.click("button[type=submit]")
    pg.wait_for_load_state()


def give_code(pg, code):
    assert pg.url.endswith("/accounts/2fa/authenticate/")
    pg.fill("input[name=code]", code)
    pg.click("button[type=submit]")
    pg.wait_for_load_state()


def test_an_operator_is_made_to_enrol_totp_then_signs_in_with_it(live_server, page, noc_x):  # noqa: F811
    noc_x.email = "noc-x@example.com"
    noc_x.save()
    _login(page, live_server.url, "noc-x@example.com")
    secret = enrol(page)
    page.goto(f"{live_server.url}/admin/")
    assert page.url == f"{live_server.url}/admin/"
    log_out(page, live_server.url)
    _login(page, live_server.url, "noc-x@example.com")
    # Password alone: the console sends the half-signed-in browser back to the code prompt.
    assert page.goto(f"{live_server.url}/admin/").url == f"{live_server.url}/accounts/2fa/authenticate/"
    give_code(page, totp(secret, step=1))
    assert page.url == f"{live_server.url}/admin/"
    assert "HashInsight NOC" in page.title()


def test_a_new_operator_signs_in_with_microsoft_and_enrols_before_the_admin(
    live_server,
    page,  # noqa: F811
    world,
    owner,
    oidc_issuer,  # noqa: F811
    settings,
):
    settings.SOCIALACCOUNT_PROVIDERS = provider_apps(oidc_issuer.url)
    invitation_create(actor=SETUP, invited_by=owner, email="new-op@example.com", role=Role.NOC, site=world.site_x)
    oidc_issuer.next_claims = {"email": "new-op@example.com", "email_verified": None, "xms_edov": True, "sub": "ms-9"}
    page.goto(f"{live_server.url}/accounts/login/")
    page.click("a[href*='/accounts/oidc/microsoft/login/']")
    page.click("button[type=submit]")  # allauth's "Continue" (sign-in starts with a POST)
    page.wait_for_load_state()
    secret = enrol(page)  # straight from the issuer to enrolment: no admin page before it
    page.goto(f"{live_server.url}/admin/")
    assert page.url == f"{live_server.url}/admin/"
    log_out(page, live_server.url)
    page.goto(f"{live_server.url}/accounts/login/")
    page.click("a[href*='/accounts/oidc/microsoft/login/']")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    give_code(page, totp(secret, step=1))
    assert page.url == f"{live_server.url}/admin/"
