"""`manage.py security_attestation`: whether mTLS and the allowlist were on for a site's day, from
its audit chain with each change's seq and hash (SPEC §4, §8)."""

import datetime as dt
import hashlib
import io
import json

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from conftest import SETUP
from tenants.edge_attestation import day_bounds, security_attestation
from tenants.edge_security import collector_certificate_add, site_allowlist_set, site_mtls_set

# Chains never go back in time (an append takes the later of now and the head's time): the days
# attested here lie after the fixture's events, which are at the real clock.
DAY = dt.date(timezone.now().year + 1, 3, 10)


def at(hour, minute=0, day=DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


def attest(site="SITE-X", date=DAY, *args) -> str:
    out = io.StringIO()
    with time_machine.travel(at(0, 0, date + dt.timedelta(days=2)), tick=False):
        call_command("security_attestation", "--site", site, "--date", date.isoformat(), *args, stdout=out)
    return out.getvalue()


def event(action):
    return AuditEvent.objects.filter(chain_key="site:SITE-X", action=action).order_by("-seq").first()


def test_a_day_with_mtls_switched_on_midway_says_when_with_the_event_hash(world):
    with time_machine.travel(at(12, 30), tick=False):
        site_mtls_set(actor=SETUP, site=world.site_x, required=True)
    switched = event("tenants.site_security.mtls_enabled")
    text = attest()
    assert f"mTLS: off from {DAY}T00:00:00Z to {DAY}T12:30:00Z; on from {DAY}T12:30:00Z to" in text
    assert f"seq {switched.seq} at {DAY}T12:30:00Z tenants.site_security.mtls_enabled" in text
    assert switched.hash in text
    assert "Source-network allowlist: off for the whole day" in text
    assert "Chain verification over the day: PASS" in text
    # the next day it was on throughout, as the last change before it recorded
    next_day = attest("SITE-X", DAY + dt.timedelta(days=1))
    assert "mTLS: on for the whole day" in next_day
    assert f"as set by seq {switched.seq}" in next_day and switched.hash in next_day


def test_a_site_never_changed_is_off_for_the_whole_day(world):
    text = attest()
    assert "mTLS: off for the whole day" in text and "Source-network allowlist: off for the whole day" in text
    assert "no change recorded" in text


def test_the_allowlist_and_certificates_show_with_their_changes(world):
    with time_machine.travel(at(1), tick=False):
        site_allowlist_set(actor=SETUP, site=world.site_x, networks=["10.0.0.0/8"])
    with time_machine.travel(at(9), tick=False):
        collector_certificate_add(
            actor=SETUP,
            collector=world.collector_x,
            fingerprint=hashlib.sha256(b"x").hexdigest(),
            not_after=at(0, 0, DAY + dt.timedelta(days=90)),
        )
        site_allowlist_set(actor=SETUP, site=world.site_x, networks=["10.0.0.0/8", "192.0.2.0/24"])
    text = attest()
    assert (
        f"Source-network allowlist: off from {DAY}T00:00:00Z to {DAY}T01:00:00Z; on (1 network) from "
        f"{DAY}T01:00:00Z to {DAY}T09:00:00Z; on (2 networks) from {DAY}T09:00:00Z to "
    ) in text
    assert "[10.0.0.0/8, 192.0.2.0/24]" in text
    assert hashlib.sha256(b"x").hexdigest() in text and "tenants.collector_certificate.added" in text
    data = json.loads(attest("SITE-X", DAY, "--json"))
    assert [c["action"] for c in data["changes"]] == ["tenants.site_security.allowlist_changed"] * 2
    assert data["changes"][1]["hash"] == event("tenants.site_security.allowlist_changed").hash


def test_the_state_at_the_start_survives_a_purge_of_older_events(world):
    """With nothing before the day (purged), the first change since tells what held before it."""
    with time_machine.travel(at(15), tick=False):
        site_mtls_set(actor=SETUP, site=world.site_x, required=True)
    start, end = day_bounds(world.site_x, DAY)
    with time_machine.travel(at(0, 0, DAY + dt.timedelta(days=1)), tick=False):
        att = security_attestation(site=world.site_x, start=start, end=end, span="day")
    assert att.initial == {"mtls_required": False, "source_networks": []}
    assert "as found by the first change since" in att.initial_basis


def test_the_day_is_the_sites_calendar_day(world):
    world.site_x.timezone = "Asia/Tokyo"
    start, end = day_bounds(world.site_x, DAY)
    assert (start, end) == (at(15, 0, DAY - dt.timedelta(days=1)), at(15))


def test_an_unknown_site_is_an_error(world):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("security_attestation", "--site", "NOPE", "--date", "2026-01-01")


def test_switched_to_mtls_the_collector_is_refused_until_registered_and_the_days_attestation_says_so(
    client, world, settings
):
    settings.EDGE_TRUSTED_PROXIES = ["127.0.0.1/32"]
    fingerprint = hashlib.sha256(b"edge-x 2027").hexdigest()
    headers = {
        "HTTP_X_COLLECTOR_KEY": world.token_x,
        "HTTP_X_SSL_CLIENT_VERIFY": "SUCCESS",
        "HTTP_X_SSL_CLIENT_FINGERPRINT": fingerprint,
    }
    with time_machine.travel(at(8), tick=False):
        assert client.get("/api/collector/status", **headers).status_code == 200
        site_mtls_set(actor=SETUP, site=world.site_x, required=True, reason="customer requirement")
        refused = client.get("/api/collector/status", **headers)
        assert (refused.status_code, refused.json()["error_code"]) == (401, "MTLS_CERT_UNKNOWN")
    with time_machine.travel(at(9), tick=False):
        collector_certificate_add(
            actor=SETUP, collector=world.collector_x, fingerprint=fingerprint, not_after=at(0, 0, DAY.replace(day=28))
        )
        assert client.get("/api/collector/status", **headers).status_code == 200
    text = attest()
    assert f"mTLS: off from {DAY}T00:00:00Z to {DAY}T08:00:00Z; on from {DAY}T08:00:00Z to " in text
    assert event("tenants.site_security.mtls_enabled").hash in text
    assert event("tenants.collector_certificate.added").hash in text
