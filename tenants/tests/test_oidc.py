"""Google and Microsoft sign-in end to end against a real OIDC issuer on loopback (oidc_issuer.py):
allauth's own code path fetches discovery, exchanges the code and validates the ID token."""

import ast
import os
import subprocess
import sys
from urllib.parse import urlparse

import pytest
import requests
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from conftest import PASSWORD, SETUP
from tenants.invitations import invitation_create
from tenants.models import Invitation, Role, RoleGrant
from tenants.tests.oidc_issuer import oidc_issuer, provider_apps  # noqa: F401 — the issuer fixture

User = get_user_model()


@pytest.fixture
def issuer(oidc_issuer, settings):  # noqa: F811
    settings.SOCIALACCOUNT_PROVIDERS = provider_apps(oidc_issuer.url)
    return oidc_issuer


def sign_in(client, issuer, provider="microsoft", **form):
    started = client.post(f"/accounts/oidc/{provider}/login/", form)
    assert started.status_code == 302, started.content
    assert started["Location"].startswith(f"{issuer.url}/authorize?")
    authorized = requests.get(started["Location"], allow_redirects=False, timeout=10)
    assert authorized.status_code == 302
    callback = urlparse(authorized.headers["Location"])
    return client.get(f"{callback.path}?{callback.query}")


def signed_in_as(client):
    return client.session.get("_auth_user_id")


@pytest.fixture
def ops_invitation(world, owner):
    _, token = invitation_create(
        actor=SETUP, invited_by=owner, email="new-op@example.com", role=Role.NOC, site=world.site_x
    )
    return token


def test_an_invited_operator_signs_in_with_microsoft_and_must_enrol_totp_before_the_admin(
    client, issuer, ops_invitation, settings
):
    settings.MFA_REQUIRED_FOR_OPERATORS = True
    # Microsoft sends no email_verified; xms_edov says the domain owner verified the address.
    issuer.next_claims = {"email": "New-Op@example.com", "email_verified": None, "xms_edov": True, "sub": "ms-1"}
    response = sign_in(client, issuer, "microsoft")
    assert response.status_code == 302
    user = User.objects.get(email__iexact="new-op@example.com")
    assert signed_in_as(client) == str(user.pk)
    assert RoleGrant.objects.filter(user=user, role=Role.NOC).exists()
    assert Invitation.objects.get().accepted_user == user
    assert SocialAccount.objects.get(user=user).provider == "microsoft"
    assert AuditEvent.objects.filter(action="tenants.identity.linked", entity_id=str(user.pk)).count() == 1
    assert AuditEvent.objects.get(action="tenants.user.logged_in").payload["method"] == "socialaccount:microsoft"
    admin = client.get("/admin/")
    assert admin.status_code == 302 and admin["Location"] == "/accounts/2fa/totp/activate/"
    assert client.get("/accounts/2fa/totp/activate/").status_code == 200


def test_a_verified_email_of_an_existing_user_links_the_identity_and_signs_them_in(client, issuer, noc_x):
    noc_x.email = "noc-x@example.com"
    noc_x.save()
    issuer.next_claims = {"email": "NOC-X@example.com", "sub": "g-1"}
    assert sign_in(client, issuer, "google").status_code == 302
    assert signed_in_as(client) == str(noc_x.pk)
    account = SocialAccount.objects.get(user=noc_x)
    assert (account.provider, account.uid) == ("google", "g-1")
    event = AuditEvent.objects.get(action="tenants.identity.linked")
    assert event.payload == {"provider": "google", "uid": "g-1", "user": noc_x.username}
    # Next time the linked identity signs in directly, linked once.
    client.logout()
    issuer.next_claims = {"email": "noc-x@example.com", "sub": "g-1"}
    assert sign_in(client, issuer, "google").status_code == 302
    assert signed_in_as(client) == str(noc_x.pk)
    assert AuditEvent.objects.filter(action="tenants.identity.linked").count() == 1


def test_an_email_with_no_user_and_no_invitation_is_refused_with_a_page_not_signed_up(client, issuer, world):
    issuer.next_claims = {"email": "stranger@example.com"}
    response = sign_in(client, issuer, "google")
    assert response.status_code == 403
    assert b"There is no invitation for <strong>stranger@example.com</strong>" in response.content
    assert not signed_in_as(client)
    assert not User.objects.filter(email="stranger@example.com").exists()
    assert not SocialAccount.objects.exists()


def test_an_unverified_email_is_refused_even_when_it_matches_a_user(client, issuer, noc_x):
    noc_x.email = "noc-x@example.com"
    noc_x.save()
    issuer.next_claims = {"email": "noc-x@example.com", "email_verified": False}
    response = sign_in(client, issuer, "google")
    assert response.status_code == 403
    assert b"did not confirm that it verified the email address" in response.content
    assert not signed_in_as(client) and not SocialAccount.objects.exists()


def test_an_unverified_email_cannot_use_an_invitation(client, issuer, ops_invitation):
    issuer.next_claims = {"email": "new-op@example.com", "email_verified": None}
    assert sign_in(client, issuer, "microsoft").status_code == 403
    assert not User.objects.filter(email="new-op@example.com").exists()
    assert Invitation.objects.get().accepted_at is None


@pytest.mark.parametrize(
    "claims, rogue",
    [
        ({"aud": "someone-elses-client"}, False),  # wrong audience
        ({"exp": 1_000_000_000, "iat": 999_999_000}, False),  # expired (2001)
        ({"iss": "https://evil.example.com"}, False),  # another issuer
        ({}, True),  # signed with a key the issuer never published
    ],
    ids=["wrong-aud", "expired", "wrong-iss", "bad-signature"],
)
def test_an_id_token_that_fails_validation_signs_nobody_in(client, issuer, noc_x, claims, rogue):
    noc_x.email = "noc-x@example.com"
    noc_x.save()
    issuer.next_claims = {"email": "noc-x@example.com", **claims}
    issuer.sign_with_rogue_key = rogue
    response = sign_in(client, issuer, "google")
    assert response.status_code == 401
    assert b"Third-Party Login Failure" in response.content
    assert not signed_in_as(client)
    assert not SocialAccount.objects.exists()
    assert issuer.token_requests  # the code was exchanged: the token itself was refused


def test_one_user_links_two_identities_and_unlinks_one_audited(client, issuer, noc_x):
    noc_x.email = "noc-x@example.com"
    noc_x.save()
    # Linking asks for a recent sign-in: sign in with the password first.
    assert client.post("/accounts/login/", {"login": noc_x.email, "password": PASSWORD}).status_code == 302
    issuer.next_claims = {"email": "noc.x@other.example.com", "email_verified": False, "sub": "g-7"}
    assert sign_in(client, issuer, "google", process="connect").status_code == 302
    issuer.next_claims = {"email": "noc-x@example.com", "sub": "ms-7"}
    assert sign_in(client, issuer, "microsoft", process="connect").status_code == 302
    accounts = SocialAccount.objects.filter(user=noc_x)
    assert sorted(accounts.values_list("provider", "uid")) == [("google", "g-7"), ("microsoft", "ms-7")]
    assert AuditEvent.objects.filter(action="tenants.identity.linked").count() == 2
    google = accounts.get(provider="google")
    assert client.post("/accounts/3rdparty/", {"account": google.pk}).status_code == 302
    assert list(SocialAccount.objects.filter(user=noc_x).values_list("provider", flat=True)) == ["microsoft"]
    unlinked = AuditEvent.objects.get(action="tenants.identity.unlinked")
    assert unlinked.payload == {"provider": "google", "uid": "g-7", "user": noc_x.username}
    assert unlinked.actor_id == str(noc_x.pk)


def test_a_provider_without_a_client_id_has_no_button(client, issuer, settings, db):
    page = client.get("/accounts/login/").content.decode()
    assert "/accounts/oidc/microsoft/login/" in page and "/accounts/oidc/google/login/" in page
    apps = settings.SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"]
    settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"APPS": [a for a in apps if a["provider_id"] == "google"]}}
    page = client.get("/accounts/login/").content.decode()
    assert "/accounts/oidc/microsoft/login/" not in page and "/accounts/oidc/google/login/" in page
    assert client.post("/accounts/oidc/microsoft/login/").status_code == 404


@pytest.mark.parametrize(
    "env, offered",
    [
        ({}, []),
        ({"GOOGLE_OIDC_CLIENT_ID": "g", "GOOGLE_OIDC_CLIENT_SECRET": "s"}, ["google"]),
        ({"MICROSOFT_OIDC_CLIENT_ID": "m", "MICROSOFT_OIDC_CLIENT_SECRET": "s"}, []),  # no tenant: no issuer
        (
            {"MICROSOFT_OIDC_CLIENT_ID": "m", "MICROSOFT_OIDC_TENANT": "t-1", "GOOGLE_OIDC_CLIENT_ID": "g"},
            ["google", "microsoft"],
        ),
    ],
)
def test_the_environment_decides_which_providers_are_offered(env, offered, settings):
    code = (
        "from django.conf import settings;"
        "apps = settings.SOCIALACCOUNT_PROVIDERS['openid_connect']['APPS'];"
        "print([(a['provider_id'], a['settings']['server_url']) for a in apps])"
    )
    clean = {
        "PATH": os.environ["PATH"],
        "ENV_FILE": "",
        "DEBUG": "True",
        "DJANGO_SETTINGS_MODULE": "hashinsight.settings",
    }
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=settings.BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    apps = dict(ast.literal_eval(out.stdout.strip().splitlines()[-1]))
    assert sorted(apps) == offered
    if "microsoft" in apps:
        assert apps["microsoft"] == "https://login.microsoftonline.com/t-1/v2.0"
    if "google" in apps:
        assert apps["google"] == "https://accounts.google.com"
