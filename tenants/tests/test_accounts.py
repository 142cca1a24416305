"""Login through allauth (audited, throttled in Redis) and invite-only sign-up."""

import datetime as dt

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.utils import timezone

from audit.models import AuditEvent
from conftest import PASSWORD, SETUP
from core.errors import InvalidParameter
from tenants.invitations import invitation_create
from tenants.models import Invitation, Role, RoleGrant

LOGIN = "/accounts/login/"
SIGNUP = "/accounts/signup/"
NEW_PASSWORD = "A-long-new-pass-42"


def login(client, email, password=PASSWORD):
    return client.post(LOGIN, {"login": email, "password": password})


def test_login_with_email_and_password_is_audited(client, noc_x):
    response = login(client, noc_x.email)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(noc_x.pk)
    event = AuditEvent.objects.get(action="tenants.user.logged_in")
    assert (event.entity_id, event.actor_type, event.chain_key) == (str(noc_x.pk), "user", "platform")
    assert event.payload["ip"] == "127.0.0.1"


def test_a_wrong_password_is_refused_and_not_audited_as_a_login(client, noc_x):
    response = login(client, noc_x.email, "wrong-password")
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert not AuditEvent.objects.filter(action="tenants.user.logged_in").exists()


def test_repeated_failed_logins_lock_the_account_out_even_with_the_right_password(client, noc_x):
    for _ in range(5):
        assert login(client, noc_x.email, "wrong-password").status_code == 200
    response = login(client, noc_x.email)
    assert "_auth_user_id" not in client.session
    assert b"Too many failed login attempts" in response.content
    # The counter lives in the shared Redis cache: clearing it lifts the lockout.
    cache.clear()
    assert login(client, noc_x.email).status_code == 302


def test_the_lockout_is_per_account(client, noc_x, noc_y):
    for _ in range(5):
        login(client, noc_x.email, "wrong-password")
    assert login(client, noc_y.email).status_code == 302


def test_the_admin_login_goes_through_allauth(client, noc_x):
    response = client.get("/admin/login/", follow=True)
    assert response.redirect_chain[-1][0].startswith(LOGIN)


# --- invitations --------------------------------------------------------------------------------------


def test_sign_up_is_closed_without_an_invitation(client, db):
    response = client.get(SIGNUP)
    assert response.status_code == 200
    assert b"Sign Up Closed" in response.content
    client.post(SIGNUP, {"email": "intruder@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert not get_user_model().objects.filter(email="intruder@example.com").exists()


@pytest.fixture
def invitation(world, owner):
    inv, token = invitation_create(
        actor=SETUP, invited_by=owner, email="New.Customer@Example.com", role=Role.CUSTOMER, tenant=world.tenant_a
    )
    return inv, token


def sign_up(client, email):
    return client.post(SIGNUP, {"email": email, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})


def test_an_invitation_opens_sign_up_for_the_invited_email_and_grants_the_role(client, world, invitation):
    inv, token = invitation
    response = client.get(f"/accounts/invite/{token}/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/signup/?email=new.customer%40example.com"
    assert b"Sign Up Closed" not in client.get(SIGNUP).content

    assert sign_up(client, "new.customer@example.com").status_code == 302
    user = get_user_model().objects.get(email="new.customer@example.com")
    grant = RoleGrant.objects.get(user=user)
    assert (grant.role, grant.tenant) == (Role.CUSTOMER, world.tenant_a)
    inv.refresh_from_db()
    assert inv.accepted_user == user and inv.accepted_at is not None
    chain = f"tenant:{world.tenant_a.pk}"
    assert AuditEvent.objects.filter(
        action="tenants.role_grant.created", entity_id=str(grant.pk), chain_key=chain
    ).exists()
    assert AuditEvent.objects.filter(
        action="tenants.invitation.accepted", entity_id=str(inv.pk), chain_key=chain
    ).exists()
    # Signed in straight away, and the login is audited like any other.
    assert client.session["_auth_user_id"] == str(user.pk)
    assert AuditEvent.objects.filter(action="tenants.user.logged_in", entity_id=str(user.pk)).exists()


def test_an_invitation_grants_an_operator_role_at_its_site(client, world, owner):
    _, token = invitation_create(
        actor=SETUP, invited_by=owner, email="tech@example.com", role=Role.TECHNICIAN, zone=world.zone_x1
    )
    client.get(f"/accounts/invite/{token}/")
    sign_up(client, "tech@example.com")
    grant = RoleGrant.objects.get(user__email="tech@example.com")
    assert (grant.role, grant.site, grant.zone) == (Role.TECHNICIAN, world.site_x, world.zone_x1)


def test_an_invitation_refuses_another_email(client, world, invitation):
    _, token = invitation
    client.get(f"/accounts/invite/{token}/")
    response = sign_up(client, "someone.else@example.com")
    assert response.status_code == 200
    assert b"the invitation was sent to" in response.content
    assert not get_user_model().objects.filter(email="someone.else@example.com").exists()
    assert not RoleGrant.objects.filter(role=Role.CUSTOMER, user__email="someone.else@example.com").exists()


def test_an_invitation_cannot_be_used_twice(client, world, invitation):
    _, token = invitation
    client.get(f"/accounts/invite/{token}/")
    sign_up(client, "new.customer@example.com")
    client.logout()
    response = client.get(f"/accounts/invite/{token}/")
    assert response.status_code == 404
    assert b"Invitation not valid" in response.content
    assert b"Sign Up Closed" in client.get(SIGNUP).content


def test_an_expired_invitation_is_refused(client, world, invitation):
    _, token = invitation
    with time_machine.travel(timezone.now() + dt.timedelta(days=8)):
        assert client.get(f"/accounts/invite/{token}/").status_code == 404
        assert b"Sign Up Closed" in client.get(SIGNUP).content


def test_an_invitation_expiring_after_the_link_was_opened_closes_sign_up(client, world, invitation):
    _, token = invitation
    client.get(f"/accounts/invite/{token}/")
    with time_machine.travel(timezone.now() + dt.timedelta(days=8)):
        sign_up(client, "new.customer@example.com")
    assert not get_user_model().objects.filter(email="new.customer@example.com").exists()


def test_an_unknown_invitation_token_is_refused(client, db):
    assert client.get("/accounts/invite/not-a-token/").status_code == 404


def test_an_invitation_with_an_impossible_scope_is_refused_up_front(world, owner):
    with pytest.raises(InvalidParameter):
        invitation_create(actor=SETUP, invited_by=owner, email="x@example.com", role=Role.CUSTOMER, site=world.site_x)
    with pytest.raises(InvalidParameter):
        invitation_create(actor=SETUP, invited_by=owner, email="x@example.com", role=Role.NOC)
    assert not Invitation.objects.exists()


def test_ops_manager_cannot_invite_beyond_their_scope_in_the_admin(client, world, ops_manager_x):
    client.force_login(ops_manager_x)
    response = client.post(
        "/admin/tenants/invitation/add/",
        {"email": "boss@example.com", "role": Role.OWNER, "all_sites": "on", "site": "", "zone": "", "tenant": ""},
    )
    assert response.status_code == 200
    assert not Invitation.objects.exists()


def test_ops_manager_invites_into_their_site_and_sees_the_link_once(client, world, ops_manager_x):
    client.force_login(ops_manager_x)
    response = client.post(
        "/admin/tenants/invitation/add/",
        {"email": "noc2@example.com", "role": Role.NOC, "site": world.site_x.pk, "zone": "", "tenant": ""},
        follow=True,
    )
    inv = Invitation.objects.get(email="noc2@example.com")
    messages = [str(m) for m in response.context["messages"]]
    assert any("/accounts/invite/" in m for m in messages)
    assert AuditEvent.objects.filter(
        action="tenants.invitation.created", entity_id=str(inv.pk), chain_key="site:SITE-X"
    ).exists()
