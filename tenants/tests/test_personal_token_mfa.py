"""Personal tokens and MFA_REQUIRED_FOR_OPERATORS: no token is minted from a session that skipped
MFA, and an operator's token does not act while its owner has no second factor enrolled."""

import pytest
from allauth.mfa.models import Authenticator
from django.test import Client

from audit.services import Actor
from conftest import PASSWORD
from tenants.models import PersonalToken
from tenants.personal_tokens import personal_token_create

LOGIN = "/accounts/login/"
ACTIVATE = "/accounts/2fa/totp/activate/"


@pytest.fixture(autouse=True)
def _mfa_on(settings):
    settings.MFA_REQUIRED_FOR_OPERATORS = True


def test_an_operator_without_totp_cannot_reach_the_tokens_page(client, noc_x):
    noc_x.email = "noc-x@example.com"
    noc_x.save()
    client.post(LOGIN, {"login": noc_x.email, "password": PASSWORD})
    page = client.get("/accounts/tokens/")
    assert (page.status_code, page["Location"]) == (302, ACTIVATE)
    posted = client.post("/accounts/tokens/", {"name": "bypass", "expires_in_days": 5})
    assert posted.status_code == 302 and not PersonalToken.objects.exists()
    api = client.post("/api/v1/me/tokens", {"name": "bypass", "expires_in_days": 5}, content_type="application/json")
    assert (api.status_code, api.json()["error_code"]) == (403, "MFA_ENROLMENT_REQUIRED")
    assert not PersonalToken.objects.exists()


def test_an_operators_token_waits_for_an_enrolled_second_factor(noc_x):
    _, plaintext = personal_token_create(actor=Actor.user(noc_x), user=noc_x, name="old", expires_in_days=5)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
    refused = Client().get("/api/sites", **headers)
    assert (refused.status_code, refused.json()["error_code"]) == (403, "MFA_ENROLMENT_REQUIRED")
    Authenticator.objects.create(user=noc_x, type=Authenticator.Type.TOTP, data={"secret": "x"})
    assert Client().get("/api/sites", **headers).status_code == 200


def test_a_customers_token_needs_no_second_factor(customer_a):
    _, plaintext = personal_token_create(actor=Actor.user(customer_a), user=customer_a, name="c", expires_in_days=5)
    assert Client().get("/api/client/miners", HTTP_AUTHORIZATION=f"Bearer {plaintext}").status_code == 200
