"""MFA for operators (MFA_REQUIRED_FOR_OPERATORS): enrolment before any admin page or operator API,
TOTP at every sign-in, recovery codes, and the ways around it that must not work."""

import pytest
from allauth.mfa.models import Authenticator

from conftest import PASSWORD, grant
from tenants.models import Role
from tenants.tests.totp import secret_from_page, totp
from tests.factories import UserFactory

LOGIN = "/accounts/login/"
ACTIVATE = "/accounts/2fa/totp/activate/"
AUTHENTICATE = "/accounts/2fa/authenticate/"
API = "/api/admin/v1/audit"


@pytest.fixture(autouse=True)
def _mfa_on(settings):
    settings.MFA_REQUIRED_FOR_OPERATORS = True
    settings.MFA_TOTP_TOLERANCE = 1  # the sign-in code is the next window's: one code is never accepted twice


@pytest.fixture
def operator(noc_x):
    noc_x.email = "noc-x@example.com"
    noc_x.save()
    return noc_x


def password_login(client, user):
    return client.post(LOGIN, {"login": user.email, "password": PASSWORD})


def enrol(client) -> str:
    page = client.get(ACTIVATE)
    assert page.status_code == 200
    secret = secret_from_page(page.content.decode())
    done = client.post(ACTIVATE, {"code": totp(secret)})
    assert done.status_code == 302, done.content
    return secret


def test_an_operator_without_totp_is_sent_to_enrolment_and_the_api_refuses_them(client, operator):
    assert password_login(client, operator).status_code == 302
    admin = client.get("/admin/")
    assert (admin.status_code, admin["Location"]) == (302, ACTIVATE)
    api = client.get(API)
    assert api.status_code == 403 and api.json()["error_code"] == "MFA_ENROLMENT_REQUIRED"
    # The account pages and sign-out still answer.
    assert client.get("/accounts/2fa/").status_code == 200


def test_enrolling_shows_recovery_codes_and_opens_the_admin(client, operator):
    password_login(client, operator)
    page = client.get(ACTIVATE)
    secret = secret_from_page(page.content.decode())
    assert client.post(ACTIVATE, {"code": "000000" if totp(secret) != "000000" else "111111"}).status_code == 200
    done = client.post(ACTIVATE, {"code": totp(secret)})
    assert done["Location"] == "/accounts/2fa/recovery-codes/"
    codes = client.get(done["Location"])
    assert codes.status_code == 200 and len(codes.context["unused_codes"]) == 10
    assert set(Authenticator.objects.filter(user=operator).values_list("type", flat=True)) == {"totp", "recovery_codes"}
    assert client.get("/admin/").status_code == 200
    assert client.get(API).status_code == 200


def test_an_enrolled_operator_signs_in_with_password_and_totp(client, operator):
    password_login(client, operator)
    secret = enrol(client)
    client.logout()
    first = password_login(client, operator)
    assert first["Location"] == AUTHENTICATE
    assert client.get("/admin/").status_code == 302  # not signed in until the code is given
    assert "_auth_user_id" not in client.session
    assert (
        client.post(AUTHENTICATE, {"code": "123456" if totp(secret, step=1) != "123456" else "654321"}).status_code
        == 200
    )
    assert client.post(AUTHENTICATE, {"code": totp(secret, step=1)}).status_code == 302
    assert client.session["_auth_user_id"] == str(operator.pk)
    assert client.get("/admin/").status_code == 200


def test_a_recovery_code_signs_in_once(client, operator):
    password_login(client, operator)
    enrol(client)
    code = client.get("/accounts/2fa/recovery-codes/").context["unused_codes"][0]
    client.logout()
    password_login(client, operator)
    assert client.post(AUTHENTICATE, {"code": code}).status_code == 302
    assert client.get("/admin/").status_code == 200
    client.logout()
    password_login(client, operator)
    assert client.post(AUTHENTICATE, {"code": code}).status_code == 200  # used: refused
    assert "_auth_user_id" not in client.session


def test_a_session_that_skipped_mfa_reaches_neither_the_admin_nor_the_api(client, operator):
    password_login(client, operator)
    enrol(client)
    other = client.__class__()
    other.force_login(operator)  # a session with no MFA step (as if signed in before enrolment)
    api = other.get(API)
    assert api.status_code == 403 and api.json()["error_code"] == "MFA_REQUIRED"
    admin = other.get("/admin/")
    assert admin.status_code == 302 and admin["Location"].startswith(LOGIN)
    assert "_auth_user_id" not in other.session  # signed out: sign in again, with the code


def test_posting_credentials_to_the_admin_login_signs_nobody_in(client, operator, superuser):
    for user in (operator, superuser):
        response = client.post("/admin/login/", {"username": user.username, "password": PASSWORD, "next": "/admin/"})
        assert response.status_code == 302 and response["Location"].startswith(LOGIN)
        assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize("role", [Role.OWNER, Role.OPS_MANAGER, Role.NOC, Role.TECHNICIAN])
def test_every_role_that_can_act_on_miners_must_enrol(client, world, role):
    user = grant(UserFactory(email=f"{role}@example.com"), role, site=world.site_x)
    password_login(client, user)
    assert client.get("/admin/")["Location"] == ACTIVATE


def test_customers_and_customer_success_are_not_asked_for_mfa(client, world, customer_a):
    cs = grant(UserFactory(email="cs@example.com"), Role.CUSTOMER_SUCCESS, site=world.site_x)
    password_login(client, cs)
    assert client.get("/admin/").status_code == 200
    client.logout()
    client.force_login(customer_a)
    assert client.get(f"/portal/t/{world.tenant_a.slug}/").status_code == 200


def test_with_the_setting_off_an_operator_needs_no_totp(client, operator, settings):
    settings.MFA_REQUIRED_FOR_OPERATORS = False
    client.force_login(operator)
    assert client.get("/admin/").status_code == 200
