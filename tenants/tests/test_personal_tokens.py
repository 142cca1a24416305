"""Personal API tokens as services: minted once, stored hashed, expiry bounded, revoked, touched,
audited without the secret."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor
from core.errors import Forbidden, InvalidParameter
from tenants.models import PersonalToken
from tenants.personal_tokens import (
    TokenRefused,
    personal_token_create,
    personal_token_get,
    personal_token_lookup,
    personal_token_revoke,
    personal_token_touch,
)
from tenants.services import token_digest

pytestmark = pytest.mark.django_db


def mint(user, **kw):
    kw.setdefault("name", "script")
    kw.setdefault("expires_in_days", 30)
    return personal_token_create(actor=Actor.user(user), user=user, **kw)


def test_the_plaintext_is_returned_once_and_only_its_hash_is_stored(customer_a):
    token, plaintext = mint(customer_a)
    assert plaintext.startswith("hip_") and len(plaintext) > 40
    assert token.prefix == plaintext[:12]
    stored = PersonalToken.objects.get(pk=token.pk)
    assert stored.token_hash == token_digest(plaintext)
    assert plaintext not in {str(v) for v in PersonalToken.objects.filter(pk=token.pk).values().first().values()}
    assert personal_token_lookup(plaintext).pk == token.pk


def test_creation_is_audited_without_the_secret(customer_a):
    token, plaintext = mint(customer_a, name="nightly export", read_only=True)
    event = AuditEvent.objects.get(action="tenants.token.created", entity_id=str(token.pk))
    assert event.actor_id == str(customer_a.pk)
    assert event.payload["prefix"] == token.prefix and event.payload["read_only"] is True
    assert plaintext not in str(event.payload) and token.token_hash not in str(event.payload)


@pytest.mark.parametrize("days", [0, -1, 91, None, "30", True])
def test_an_expiry_is_required_and_bounded_by_the_setting(customer_a, days):
    with pytest.raises(InvalidParameter) as exc:
        mint(customer_a, expires_in_days=days)
    assert exc.value.extra["field"] == "expires_in_days"
    assert not PersonalToken.objects.exists()


def test_the_maximum_follows_the_setting(customer_a, settings):
    settings.PERSONAL_TOKEN_MAX_DAYS = 7
    with pytest.raises(InvalidParameter):
        mint(customer_a, expires_in_days=8)
    token, _ = mint(customer_a, expires_in_days=7)
    assert dt.timedelta(days=6, hours=23) < token.expires_at - timezone.now() <= dt.timedelta(days=7)


def test_a_cap_keeps_a_token_minted_with_a_token_within_its_parents_life(customer_a):
    parent, _ = mint(customer_a, expires_in_days=2)
    child, _ = mint(customer_a, expires_in_days=90, not_after=parent.expires_at)
    assert child.expires_at == parent.expires_at


def test_a_revoked_token_is_refused_and_revocation_is_audited_once(customer_a):
    token, plaintext = mint(customer_a)
    personal_token_revoke(actor=Actor.user(customer_a), token=token)
    personal_token_revoke(actor=Actor.user(customer_a), token=token)
    with pytest.raises(TokenRefused) as exc:
        personal_token_lookup(plaintext)
    assert exc.value.error_code == "TOKEN_REVOKED"
    assert AuditEvent.objects.filter(action="tenants.token.revoked", entity_id=str(token.pk)).count() == 1


def test_an_expired_token_is_refused(customer_a):
    _, plaintext = mint(customer_a, expires_in_days=1)
    with time_machine.travel(timezone.now() + dt.timedelta(days=1, seconds=1)), pytest.raises(TokenRefused) as exc:
        personal_token_lookup(plaintext)
    assert exc.value.error_code == "TOKEN_EXPIRED"


@pytest.mark.parametrize("tamper", ["hip_", "hip_nothing-like-it", "x", "suffix"])
def test_an_unknown_or_altered_token_is_invalid(customer_a, tamper):
    _, plaintext = mint(customer_a)
    presented = plaintext + "x" if tamper == "suffix" else tamper
    with pytest.raises(TokenRefused) as exc:
        personal_token_lookup(presented)
    assert exc.value.error_code == "TOKEN_INVALID"


def test_a_collector_token_is_no_personal_token(world):
    with pytest.raises(TokenRefused):
        personal_token_lookup(world.token_x)


def test_last_used_at_moves_at_most_once_a_minute(customer_a):
    token, _ = mint(customer_a)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        personal_token_touch(token=token, ip="10.0.0.1")
    with time_machine.travel(start + dt.timedelta(seconds=59), tick=False):
        personal_token_touch(token=PersonalToken.objects.get(pk=token.pk), ip="10.0.0.1")
    assert PersonalToken.objects.get(pk=token.pk).last_used_at == start
    with time_machine.travel(start + dt.timedelta(seconds=61), tick=False):
        personal_token_touch(token=PersonalToken.objects.get(pk=token.pk), ip="10.0.0.1")
    assert PersonalToken.objects.get(pk=token.pk).last_used_at == start + dt.timedelta(seconds=61)


def test_use_from_a_new_ip_is_audited_once_per_change(customer_a):
    token, _ = mint(customer_a)
    for ip in ["10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.2", "not-an-ip", ""]:
        personal_token_touch(token=PersonalToken.objects.get(pk=token.pk), ip=ip)
    events = AuditEvent.objects.filter(action="tenants.token.new_ip", entity_id=str(token.pk)).order_by("seq")
    assert [(e.payload["ip"], e.payload["previous_ip"]) for e in events] == [
        ("10.0.0.1", None),
        ("10.0.0.2", "10.0.0.1"),
    ]
    assert PersonalToken.objects.get(pk=token.pk).last_used_ip == "10.0.0.2"


def test_nobody_gets_another_persons_token(customer_a, customer_b, owner):
    token, _ = mint(customer_b)
    for user in (customer_a, owner):
        with pytest.raises(Forbidden):
            personal_token_get(user, token.pk)
    assert personal_token_get(customer_b, token.pk) == token
