"""The per-process cache of resolved collector tokens (tenants.collector_auth_cache), at the
authentication class and over the HTTP stack: a hit costs no query, and what a revocation, an
expiry, the site check and the edge rules decide is still decided on every request."""

import datetime as dt
import hashlib

import pytest
import time_machine
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import SETUP
from tenants import collector_auth_cache
from tenants.collector_auth import CollectorTokenAuthentication, InvalidCollectorToken, SiteMismatch
from tenants.edge_guard import EdgeForbidden
from tenants.edge_security import (
    collector_certificate_add,
    collector_certificate_revoke,
    site_allowlist_set,
    site_mtls_set,
)
from tenants.models import CollectorDevice, CollectorToken
from tenants.services import (
    collector_token_create,
    collector_token_lookup,
    collector_token_revoke,
    collector_token_rotate,
    inventory_save,
    token_digest,
)
from tenants.site_identity import site_alias_add, site_alias_remove

pytestmark = pytest.mark.django_db
URL = "/api/collector/status"
PROXY = "10.9.0.2"


@pytest.fixture(autouse=True)
def _cache_on(settings):
    settings.COLLECTOR_AUTH_CACHE_SEC = 10  # the default, whatever the environment says
    settings.COLLECTOR_TOKEN_LAST_USED_RESOLUTION_SEC = 60


def headers(token, *, site=None, device="box-1", remote="127.0.0.1", **extra):
    out = {"HTTP_X_COLLECTOR_KEY": token, "HTTP_X_DEVICE_ID": device, "REMOTE_ADDR": remote, **extra}
    if site is not None:
        out["HTTP_X_SITE_ID"] = site
    return out


def authenticate(token, path=URL, **options):
    return CollectorTokenAuthentication().authenticate(RequestFactory().get(path, **headers(token, **options)))


def refused(response, status, code) -> bool:
    assert response.status_code == status, response.content
    assert response.json()["error_code"] == code
    return True


def token_of(world) -> CollectorToken:
    return CollectorToken.objects.get(collector=world.collector_x)


def test_a_cached_token_authenticates_without_a_query(world, django_assert_num_queries):
    authenticate(world.token_x, site="SITE-X")  # the lookup, last_used_at, the device's row
    with django_assert_num_queries(0):
        principal, token = authenticate(world.token_x, site="SITE-X")
    assert (principal.collector, principal.site.code, principal.site_id) == (world.collector_x, "SITE-X", "SITE-X")
    assert token.pk == token_of(world).pk


def test_with_the_cache_off_every_request_looks_its_token_up(world, settings):
    settings.COLLECTOR_AUTH_CACHE_SEC = 0
    authenticate(world.token_x)
    with CaptureQueriesContext(connection) as queries:
        authenticate(world.token_x)
    assert [q for q in queries.captured_queries if 'FROM "tenants_collectortoken"' in q["sql"]]
    # a revocation no service of this process made (another worker's) is seen at once
    CollectorToken.objects.filter(collector=world.collector_x).update(revoked_at=timezone.now())
    with pytest.raises(InvalidCollectorToken):
        authenticate(world.token_x)


def test_a_revocation_made_elsewhere_counts_once_the_ttl_has_passed(world, monkeypatch):
    authenticate(world.token_x)
    # Another worker's revocation: a plain UPDATE, so this process's cache is not told.
    CollectorToken.objects.filter(collector=world.collector_x).update(revoked_at=timezone.now())
    assert authenticate(world.token_x)  # within COLLECTOR_AUTH_CACHE_SEC: the trade-off (docs/SECURITY.md)
    later = collector_auth_cache.monotonic() + 10
    monkeypatch.setattr(collector_auth_cache, "monotonic", lambda: later)
    with pytest.raises(InvalidCollectorToken):
        authenticate(world.token_x)


def test_a_revocation_in_this_process_is_401_at_once(client, world):
    assert client.get(URL, **headers(world.token_x)).status_code == 200
    collector_token_revoke(actor=SETUP, token=token_of(world))
    assert refused(client.get(URL, **headers(world.token_x)), 401, "INVALID_TOKEN")


def test_a_rotation_without_grace_ends_the_old_token_at_once(client, world):
    assert client.get(URL, **headers(world.token_x)).status_code == 200
    _, plaintext = collector_token_rotate(actor=SETUP, token=token_of(world), grace_hours=0)
    assert refused(client.get(URL, **headers(world.token_x)), 401, "INVALID_TOKEN")
    assert client.get(URL, **headers(plaintext)).status_code == 200


def test_a_cached_token_is_refused_once_its_expiry_passes(client, world, settings, django_assert_num_queries):
    settings.COLLECTOR_AUTH_CACHE_SEC = 3600  # the cache outlives the token
    expires = timezone.now() + dt.timedelta(seconds=30)
    _, plaintext = collector_token_create(actor=SETUP, collector=world.collector_x, expires_at=expires)
    assert client.get(URL, **headers(plaintext)).status_code == 200
    with time_machine.travel(expires + dt.timedelta(seconds=1)):
        with django_assert_num_queries(0), pytest.raises(InvalidCollectorToken):
            authenticate(plaintext)  # refused from the cached row: no lookup
        assert refused(client.get(URL, **headers(plaintext)), 401, "INVALID_TOKEN")


def test_another_sites_token_is_still_403_on_a_cache_hit(client, world, django_assert_num_queries):
    assert client.get(URL, **headers(world.token_y, site="SITE-Y")).status_code == 200
    with django_assert_num_queries(0), pytest.raises(SiteMismatch):
        authenticate(world.token_y, site="SITE-X")
    assert refused(client.get(URL, **headers(world.token_y, site="SITE-X")), 403, "SITE_MISMATCH")
    assert refused(client.get(URL + "?site_id=SITE-X", **headers(world.token_y)), 403, "SITE_MISMATCH")
    assert client.get(URL, **headers(world.token_y, site="SITE-Y")).status_code == 200


def test_the_allowlist_is_enforced_on_a_cache_hit(client, world, django_assert_num_queries):
    site_allowlist_set(actor=SETUP, site=world.site_x, networks=["10.20.0.0/16"])
    assert client.get(URL, **headers(world.token_x, remote="10.20.3.4")).status_code == 200
    with django_assert_num_queries(0), pytest.raises(EdgeForbidden):
        authenticate(world.token_x, remote="10.21.0.1")
    assert refused(client.get(URL, **headers(world.token_x, remote="10.21.0.1")), 403, "SOURCE_NOT_ALLOWED")
    # A change of the site's allowlist in this process applies to its cached tokens at once.
    site_allowlist_set(actor=SETUP, site=world.site_x, networks=["10.21.0.0/16"])
    assert client.get(URL, **headers(world.token_x, remote="10.21.0.1")).status_code == 200
    assert refused(client.get(URL, **headers(world.token_x, remote="10.20.3.4")), 403, "SOURCE_NOT_ALLOWED")


def test_mtls_is_checked_on_a_cache_hit_and_a_revoked_certificate_is_401_at_once(client, world, settings):
    settings.EDGE_TRUSTED_PROXIES = [f"{PROXY}/32"]
    fingerprint = hashlib.sha256(b"certificate A").hexdigest()
    cert = collector_certificate_add(
        actor=SETUP,
        collector=world.collector_x,
        fingerprint=fingerprint,
        not_after=timezone.now() + dt.timedelta(days=9),
    )
    site_mtls_set(actor=SETUP, site=world.site_x, required=True)
    tls = {"HTTP_X_SSL_CLIENT_VERIFY": "SUCCESS", "HTTP_X_SSL_CLIENT_FINGERPRINT": fingerprint}
    assert client.get(URL, **headers(world.token_x, remote=PROXY, **tls)).status_code == 200
    assert refused(client.get(URL, **headers(world.token_x, remote="10.1.1.1", **tls)), 401, "MTLS_UNTRUSTED_PROXY")
    collector_certificate_revoke(actor=SETUP, certificate=cert)
    assert refused(client.get(URL, **headers(world.token_x, remote=PROXY, **tls)), 401, "MTLS_CERT_REVOKED")


def test_a_collector_deactivated_in_this_process_is_401_at_once(client, world):
    assert client.get(URL, **headers(world.token_x)).status_code == 200
    world.collector_x.is_active = False
    inventory_save(actor=SETUP, obj=world.collector_x, changed=["is_active"])
    assert refused(client.get(URL, **headers(world.token_x)), 401, "INVALID_TOKEN")


def test_a_removed_alias_is_refused_at_once(client, world):
    alias = site_alias_add(actor=SETUP, site=world.site_x, value="farm-x")
    assert client.get(URL, **headers(world.token_x, site="farm-x")).status_code == 200
    site_alias_remove(actor=SETUP, alias=alias)
    assert refused(client.get(URL, **headers(world.token_x, site="farm-x")), 403, "SITE_MISMATCH")


def test_last_used_and_the_device_row_are_written_once_per_resolution(world, django_assert_num_queries):
    started = timezone.now()
    authenticate(world.token_x, device="box-1")
    token = token_of(world)
    device = CollectorDevice.objects.get(token=token, device_id="box-1")
    assert token.last_used_at >= started and device.last_seen_at >= started
    with django_assert_num_queries(0):
        for _ in range(3):
            authenticate(world.token_x, device="box-1")
    # a device new to this token is recorded at once, cached token or not
    authenticate(world.token_x, device="box-2")
    assert CollectorDevice.objects.filter(token=token, device_id="box-2").exists()
    later = timezone.now() + dt.timedelta(seconds=61)
    with time_machine.travel(later):
        authenticate(world.token_x, device="box-1")
    token.refresh_from_db()
    device.refresh_from_db()
    assert token.last_used_at >= later and device.last_seen_at >= later


def test_a_new_user_agent_is_written_at_once(world):
    authenticate(world.token_x, device="box-1", HTTP_USER_AGENT="collector/1.0")
    authenticate(world.token_x, device="box-1", HTTP_USER_AGENT="collector/1.1")
    assert CollectorDevice.objects.get(device_id="box-1").user_agent == "collector/1.1"


def test_a_lookup_that_began_before_a_clear_is_not_kept(world):
    digest = token_digest(world.token_x)
    since = collector_auth_cache.generation()
    token = collector_token_lookup(world.token_x)
    assert token is not None
    collector_auth_cache.collector_auth_cache_clear()  # a revocation committed in between
    collector_auth_cache.cache_token(digest, token, since_generation=since)
    assert collector_auth_cache.cached_token(digest) is None
    collector_auth_cache.cache_token(digest, token, since_generation=collector_auth_cache.generation())
    assert collector_auth_cache.cached_token(digest) is token


def test_unknown_tokens_are_never_cached(world, django_assert_num_queries):
    for _ in range(2):
        with django_assert_num_queries(1), pytest.raises(InvalidCollectorToken):
            authenticate("hic_not-a-real-token")
