"""Collector authentication over the HTTP stack (SPEC §4): GET /api/collector/status."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditEvent
from conftest import SETUP
from tenants.models import CollectorDevice, CollectorToken
from tenants.services import collector_token_create, collector_token_revoke

URL = "/api/collector/status"


def status(client, token=None, *, bearer=False, site=None, device=None):
    headers = {}
    if token is not None:
        headers["HTTP_AUTHORIZATION" if bearer else "HTTP_X_COLLECTOR_KEY"] = f"Bearer {token}" if bearer else token
    if site is not None:
        headers["HTTP_X_SITE_ID"] = site
    if device is not None:
        headers["HTTP_X_DEVICE_ID"] = device
    return client.get(URL, **headers)


@pytest.mark.parametrize("bearer", [False, True], ids=["x-collector-key", "authorization-bearer"])
def test_a_valid_token_is_accepted_in_either_header(client, world, bearer):
    response = status(client, world.token_x, bearer=bearer, site="SITE-X")
    assert response.status_code == 200
    body = response.json()
    assert (body["success"], body["site_id"], body["collector"], body["zone_id"]) == (True, "SITE-X", "edge-x", "")
    assert world.token_x.startswith(body["token_prefix"])


def test_the_site_header_is_optional(client, world):
    assert status(client, world.token_x).status_code == 200


def test_an_unknown_token_gets_401_with_an_error_code(client, world):
    response = status(client, "hic_not-a-real-token", site="SITE-X")
    assert response.status_code == 401
    assert response.json()["error_code"] == "INVALID_TOKEN"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_missing_token_gets_401(client, world):
    response = status(client, site="SITE-X")
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED"


def test_a_revoked_token_gets_401(client, world):
    token = CollectorToken.objects.get(collector=world.collector_x)
    collector_token_revoke(actor=SETUP, token=token)
    response = status(client, world.token_x, site="SITE-X")
    assert response.status_code == 401
    assert response.json()["error_code"] == "INVALID_TOKEN"


def test_an_expired_token_gets_401(client, world):
    _, plaintext = collector_token_create(
        actor=SETUP, collector=world.collector_x, expires_at=timezone.now() + dt.timedelta(hours=1)
    )
    assert status(client, plaintext).status_code == 200
    with time_machine.travel(timezone.now() + dt.timedelta(hours=2)):
        response = status(client, plaintext)
    assert response.status_code == 401
    assert response.json()["error_code"] == "INVALID_TOKEN"


def test_a_token_of_an_inactive_collector_gets_401(client, world):
    world.collector_x.is_active = False
    world.collector_x.save()
    assert status(client, world.token_x).status_code == 401


def test_a_token_of_site_x_presented_for_site_y_gets_403_site_mismatch(client, world):
    response = status(client, world.token_x, site="SITE-Y")
    assert response.status_code == 403
    assert response.json()["error_code"] == "SITE_MISMATCH"


def test_a_person_session_is_not_a_collector(client, world, owner):
    client.force_login(owner)
    body = status(client).json()
    assert "sites" in body and "token_prefix" not in body  # the people's answer, never a collector's self-check


def test_a_wrong_token_beside_a_session_still_gets_401(client, world, owner):
    client.force_login(owner)
    response = status(client, "hic_not-a-real-token")
    assert (response.status_code, response.json()["error_code"]) == (401, "INVALID_TOKEN")


def test_a_first_seen_device_is_recorded_and_audited_once(client, world):
    assert status(client, world.token_x, device="edge-box-1").status_code == 200
    assert status(client, world.token_x, device="edge-box-1").status_code == 200
    token = CollectorToken.objects.get(collector=world.collector_x)
    assert list(CollectorDevice.objects.filter(token=token).values_list("device_id", flat=True)) == ["edge-box-1"]
    events = AuditEvent.objects.filter(action="tenants.collector_device.first_seen")
    assert events.count() == 1
    event = events.get()
    assert (event.chain_key, event.actor_type, event.payload["device_id"]) == ("site:SITE-X", "collector", "edge-box-1")


def test_a_second_device_is_a_second_event(client, world):
    status(client, world.token_x, device="edge-box-1")
    status(client, world.token_x, device="edge-box-2")
    assert AuditEvent.objects.filter(action="tenants.collector_device.first_seen").count() == 2


def test_last_used_at_is_kept(client, world):
    token = CollectorToken.objects.get(collector=world.collector_x)
    assert token.last_used_at is None
    before = timezone.now()
    status(client, world.token_x)
    token.refresh_from_db()
    assert token.last_used_at >= before
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=5)):
        later = timezone.now()
        status(client, world.token_x)
    token.refresh_from_db()
    assert token.last_used_at >= later


def test_two_active_tokens_of_one_collector_both_work(client, world):
    _, second = collector_token_create(actor=SETUP, collector=world.collector_x, label="rotation")
    assert status(client, world.token_x, site="SITE-X").status_code == 200
    assert status(client, second, site="SITE-X", bearer=True).status_code == 200
    # Retiring the old one leaves the new one working.
    collector_token_revoke(
        actor=SETUP, token=CollectorToken.objects.filter(collector=world.collector_x).exclude(label="rotation").get()
    )
    assert status(client, world.token_x).status_code == 401
    assert status(client, second).status_code == 200


def test_only_the_token_hash_is_stored(world):
    assert not CollectorToken.objects.filter(token_hash=world.token_x).exists()
    assert not AuditEvent.objects.filter(payload__icontains=world.token_x).exists()
