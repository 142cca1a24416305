"""Login lockout per account and per IP (tenants.lockout): counters and locks in the shared Redis
cache, lock and unlock audited, lifted by time or by an operator."""

import time

import pytest
from django.core.cache import cache
from django.core.management import call_command

from audit.models import AuditEvent
from conftest import PASSWORD
from tenants.lockout import _keys

LOGIN = "/accounts/login/"


@pytest.fixture
def operator(noc_x):
    noc_x.email = "noc-x@example.com"
    noc_x.save()
    return noc_x


def login(client, email, password=PASSWORD, ip="127.0.0.1"):
    return client.post(LOGIN, {"login": email, "password": password}, REMOTE_ADDR=ip)


def fail(client, email, times, ip="127.0.0.1"):
    for _ in range(times):
        assert login(client, email, "wrong-password", ip=ip).status_code == 200


def test_five_failures_lock_the_account_once_audited(client, operator):
    fail(client, operator.email, 4)
    assert not AuditEvent.objects.filter(action="tenants.login.locked").exists()
    fail(client, operator.email, 1)
    response = login(client, operator.email)
    assert b"Too many failed login attempts" in response.content
    assert "_auth_user_id" not in client.session
    fail(client, operator.email, 3)  # more failures while locked: still one lock
    event = AuditEvent.objects.get(action="tenants.login.locked")
    assert (event.entity_id, event.actor_id) == (str(operator.pk), "tenants.lockout")
    assert event.payload == {"account": "noc-x@example.com", "failures": 5, "minutes": 15}


def test_the_lock_holds_from_another_address_and_for_any_spelling_of_the_email(client, operator):
    fail(client, operator.email, 5, ip="10.0.0.1")
    assert "_auth_user_id" not in client.session
    login(client, "NOC-X@Example.com", ip="10.0.0.2")
    assert "_auth_user_id" not in client.session


def test_a_success_before_the_limit_starts_the_count_again(client, operator):
    fail(client, operator.email, 4)
    assert login(client, operator.email).status_code == 302
    client.logout()
    fail(client, operator.email, 4)
    assert login(client, operator.email).status_code == 302


def test_an_unknown_account_locks_too_so_the_answer_tells_nothing(client, world):
    fail(client, "nobody@example.com", 6)
    event = AuditEvent.objects.get(action="tenants.login.locked")
    assert (event.entity_type, event.entity_id) == ("login.account", "nobody@example.com")


def test_failures_from_one_address_across_accounts_lock_the_address(client, operator, noc_y, settings):
    settings.LOGIN_LOCKOUT_IP_FAILURES = 3
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "100/m/ip", "login": "100/m/ip"}
    for email in ("a@example.com", "b@example.com", "c@example.com"):
        fail(client, email, 1, ip="10.9.9.9")
    login(client, operator.email, ip="10.9.9.9")
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.get(action="tenants.login.locked").payload["ip"] == "10.9.9.9"
    assert login(client, operator.email, ip="10.9.9.10").status_code == 302  # another address is fine


def test_a_lock_ends_by_time_and_its_end_is_audited_at_the_next_attempt(client, operator):
    fail(client, operator.email, 5)
    lock = _keys("account", operator.email)[1]
    assert cache.touch(lock, 1)  # the lock's TTL in Redis: one second left
    time.sleep(1.2)
    assert login(client, operator.email).status_code == 302
    event = AuditEvent.objects.get(action="tenants.login.unlocked")
    assert event.payload == {"account": "noc-x@example.com", "reason": "expired"}
    client.logout()
    assert login(client, operator.email).status_code == 302
    assert AuditEvent.objects.filter(action="tenants.login.unlocked").count() == 1


def test_an_operator_unlocks_an_account_from_the_role_grants_admin(client, operator, ops_manager_x):
    fail(client, operator.email, 5)
    admin = client.__class__()
    admin.force_login(ops_manager_x)
    grant = operator.role_grants.get()
    response = admin.post(
        "/admin/tenants/rolegrant/", {"action": "unlock_sign_in", "_selected_action": [grant.pk]}, follow=True
    )
    assert [str(m) for m in response.context["messages"]] == ["unlocked: noc-x@example.com"]
    event = AuditEvent.objects.get(action="tenants.login.unlocked")
    assert (event.actor_id, event.payload["reason"]) == (str(ops_manager_x.pk), "operator")
    assert login(client, operator.email).status_code == 302


def test_an_operator_cannot_unlock_a_user_outside_their_grants(client, operator, noc_y, ops_manager_x):
    noc_y.email = "noc-y@example.com"
    noc_y.save()
    fail(client, noc_y.email, 5)
    admin = client.__class__()
    admin.force_login(ops_manager_x)
    grant = noc_y.role_grants.get()
    admin.post("/admin/tenants/rolegrant/", {"action": "unlock_sign_in", "_selected_action": [grant.pk]})
    assert not AuditEvent.objects.filter(action="tenants.login.unlocked").exists()
    login(client, noc_y.email)
    assert "_auth_user_id" not in client.session


def test_the_login_unlock_command_lifts_a_lock(client, operator, capsys):
    fail(client, operator.email, 5)
    call_command("login_unlock", email=operator.email)
    assert capsys.readouterr().out.strip() == "unlocked"
    assert login(client, operator.email).status_code == 302
    assert AuditEvent.objects.get(action="tenants.login.unlocked").actor_id == "cli.login_unlock"
