"""The edge guard over the HTTP stack (SPEC §4): the source-network allowlist (403) and mTLS (401),
each with its error_code, behind a trusted proxy or not."""

import datetime as dt
import hashlib

import pytest
from django.utils import timezone

from conftest import SETUP
from tenants.edge_security import (
    collector_certificate_add,
    collector_certificate_revoke,
    site_allowlist_set,
    site_mtls_set,
)
from tenants.metrics import edge_refusals_total

URL = "/api/collector/status"
PROXY = "10.9.0.2"
FP_A = hashlib.sha256(b"certificate A").hexdigest()
FP_B = hashlib.sha256(b"certificate B").hexdigest()


@pytest.fixture(autouse=True)
def _proxies(settings):
    settings.EDGE_TRUSTED_PROXIES = [f"{PROXY}/32", "fd00:9::/64"]


def call(client, token, *, remote="127.0.0.1", xff=None, verify=None, fingerprint=None, cert=None, path=URL):
    headers = {"HTTP_X_COLLECTOR_KEY": token, "REMOTE_ADDR": remote}
    if xff is not None:
        headers["HTTP_X_FORWARDED_FOR"] = xff
    if verify is not None:
        headers["HTTP_X_SSL_CLIENT_VERIFY"] = verify
    if fingerprint is not None:
        headers["HTTP_X_SSL_CLIENT_FINGERPRINT"] = fingerprint
    if cert is not None:
        headers["HTTP_X_SSL_CLIENT_CERT"] = cert
    return client.get(path, **headers)


def refused(response, status, code):
    assert response.status_code == status, response.content
    assert response.json()["error_code"] == code
    return True


def refusals(code):
    return edge_refusals_total.labels(error_code=code)._value.get()


# --- source-network allowlist ---------------------------------------------------------------------


def test_a_site_without_rules_accepts_its_collector_from_anywhere(client, world):
    assert call(client, world.token_x, remote="203.0.113.9").status_code == 200


@pytest.mark.parametrize(
    ("networks", "inside", "outside"),
    [(["10.20.0.0/16"], "10.20.3.4", "10.21.0.1"), (["2001:db8:5::/48"], "2001:db8:5::77", "2001:db8:6::1")],
    ids=["ipv4", "ipv6"],
)
def test_the_allowlist_refuses_a_collector_from_elsewhere_with_403(client, world, networks, inside, outside):
    site_allowlist_set(actor=SETUP, site=world.site_x, networks=networks)
    assert call(client, world.token_x, remote=inside).status_code == 200
    before = refusals("SOURCE_NOT_ALLOWED")
    assert refused(call(client, world.token_x, remote=outside), 403, "SOURCE_NOT_ALLOWED")
    assert refusals("SOURCE_NOT_ALLOWED") == before + 1
    # the other site has no allowlist
    assert call(client, world.token_y, remote=outside).status_code == 200


def test_an_ipv4_client_on_a_dual_stack_socket_matches_its_ipv4_network(client, world):
    site_allowlist_set(actor=SETUP, site=world.site_x, networks=["10.20.0.0/16"])
    assert call(client, world.token_x, remote="::ffff:10.20.3.4").status_code == 200


def test_behind_a_trusted_proxy_the_client_is_the_last_untrusted_forwarded_hop(client, world):
    site_allowlist_set(actor=SETUP, site=world.site_x, networks=["10.20.0.0/16"])
    # the proxy appended the address it saw; what the client wrote before that is not believed
    assert call(client, world.token_x, remote=PROXY, xff="10.20.3.4").status_code == 200
    assert refused(call(client, world.token_x, remote=PROXY, xff="10.20.3.4, 198.51.100.7"), 403, "SOURCE_NOT_ALLOWED")
    # a second trusted hop is looked through
    assert call(client, world.token_x, remote=PROXY, xff=f"198.51.100.7, 10.20.3.4, {PROXY}").status_code == 200


def test_forwarded_for_from_an_untrusted_peer_is_ignored(client, world):
    site_allowlist_set(actor=SETUP, site=world.site_x, networks=["10.20.0.0/16"])
    assert refused(call(client, world.token_x, remote="198.51.100.7", xff="10.20.3.4"), 403, "SOURCE_NOT_ALLOWED")


def test_the_allowlist_guards_uploads_and_polls_too(client, world):
    site_allowlist_set(actor=SETUP, site=world.site_x, networks=["10.20.0.0/16"])
    for path in ("/api/edge/v1/commands/poll", "/api/collector/commands/pending"):
        assert refused(call(client, world.token_x, remote="198.51.100.7", path=path), 403, "SOURCE_NOT_ALLOWED")
    upload = client.post(
        "/api/edge/v1/telemetry/batch",
        data=b"{}",
        content_type="application/octet-stream",
        HTTP_X_COLLECTOR_KEY=world.token_x,
        REMOTE_ADDR="198.51.100.7",
    )
    assert refused(upload, 403, "SOURCE_NOT_ALLOWED")


# --- mTLS ------------------------------------------------------------------------------------------


@pytest.fixture
def mtls_x(world):
    site_mtls_set(actor=SETUP, site=world.site_x, required=True)
    return world


def test_a_site_switched_to_mtls_refuses_its_collector_until_its_certificate_is_registered(client, mtls_x):
    w = mtls_x
    assert refused(call(client, w.token_x, remote=PROXY, verify="SUCCESS", fingerprint=FP_A), 401, "MTLS_CERT_UNKNOWN")
    collector_certificate_add(
        actor=SETUP, collector=w.collector_x, fingerprint=FP_A, not_after=timezone.now() + dt.timedelta(days=30)
    )
    assert call(client, w.token_x, remote=PROXY, verify="SUCCESS", fingerprint=FP_A).status_code == 200


def test_mtls_headers_from_an_untrusted_peer_are_refused(client, mtls_x):
    w = mtls_x
    collector_certificate_add(
        actor=SETUP, collector=w.collector_x, fingerprint=FP_A, not_after=timezone.now() + dt.timedelta(days=30)
    )
    before = refusals("MTLS_UNTRUSTED_PROXY")
    forged = call(client, w.token_x, remote="198.51.100.7", verify="SUCCESS", fingerprint=FP_A)
    assert refused(forged, 401, "MTLS_UNTRUSTED_PROXY")
    assert refusals("MTLS_UNTRUSTED_PROXY") == before + 1


@pytest.mark.parametrize("verify", [None, "NONE", "FAILED:certificate revoked", "success"])
def test_an_unverified_certificate_is_refused(client, mtls_x, verify):
    w = mtls_x
    collector_certificate_add(
        actor=SETUP, collector=w.collector_x, fingerprint=FP_A, not_after=timezone.now() + dt.timedelta(days=30)
    )
    assert refused(call(client, w.token_x, remote=PROXY, verify=verify, fingerprint=FP_A), 401, "MTLS_NOT_VERIFIED")


def test_a_certificate_of_another_collector_is_unknown_here(client, mtls_x):
    w = mtls_x
    collector_certificate_add(
        actor=SETUP, collector=w.collector_y, fingerprint=FP_A, not_after=timezone.now() + dt.timedelta(days=30)
    )
    assert refused(call(client, w.token_x, remote=PROXY, verify="SUCCESS", fingerprint=FP_A), 401, "MTLS_CERT_UNKNOWN")


def test_a_sha1_fingerprint_is_never_taken_for_a_registered_one(client, mtls_x):
    w = mtls_x
    collector_certificate_add(
        actor=SETUP, collector=w.collector_x, fingerprint=FP_A, not_after=timezone.now() + dt.timedelta(days=30)
    )
    sha1 = hashlib.sha1(b"certificate A").hexdigest()
    assert refused(call(client, w.token_x, remote=PROXY, verify="SUCCESS", fingerprint=sha1), 401, "MTLS_CERT_UNKNOWN")


def test_revoked_and_expired_certificates_have_their_own_codes(client, mtls_x, time_machine):
    w = mtls_x
    cert = collector_certificate_add(
        actor=SETUP, collector=w.collector_x, fingerprint=FP_A, not_after=timezone.now() + dt.timedelta(days=1)
    )
    collector_certificate_add(
        actor=SETUP, collector=w.collector_x, fingerprint=FP_B, not_after=timezone.now() + dt.timedelta(days=60)
    )
    collector_certificate_revoke(actor=SETUP, certificate=cert)
    assert refused(call(client, w.token_x, remote=PROXY, verify="SUCCESS", fingerprint=FP_A), 401, "MTLS_CERT_REVOKED")
    time_machine.move_to(timezone.now() + dt.timedelta(days=61))
    before = refusals("MTLS_CERT_EXPIRED")
    assert refused(call(client, w.token_x, remote=PROXY, verify="SUCCESS", fingerprint=FP_B), 401, "MTLS_CERT_EXPIRED")
    assert refusals("MTLS_CERT_EXPIRED") == before + 1


def test_rotation_two_registered_certificates_both_work_until_the_old_one_expires(client, mtls_x, time_machine):
    w = mtls_x
    now = timezone.now()
    collector_certificate_add(
        actor=SETUP, collector=w.collector_x, fingerprint=FP_A, not_after=now + dt.timedelta(days=5)
    )
    # the new one registered with colons and upper case, as `openssl x509 -fingerprint -sha256` prints it
    pretty = ":".join(FP_B[i : i + 2] for i in range(0, 64, 2)).upper()
    collector_certificate_add(
        actor=SETUP, collector=w.collector_x, fingerprint=pretty, not_after=now + dt.timedelta(days=400)
    )
    for fp in (FP_A, FP_B):
        assert call(client, w.token_x, remote=PROXY, verify="SUCCESS", fingerprint=fp).status_code == 200
    time_machine.move_to(now + dt.timedelta(days=6))
    assert refused(call(client, w.token_x, remote=PROXY, verify="SUCCESS", fingerprint=FP_A), 401, "MTLS_CERT_EXPIRED")
    assert call(client, w.token_x, remote=PROXY, verify="SUCCESS", fingerprint=FP_B).status_code == 200


def test_the_pem_header_is_fingerprinted_by_the_app(client, mtls_x):
    w = mtls_x
    der = b"\x30\x03\x02\x01\x01"  # any DER bytes: the fingerprint is SHA-256 over them
    import base64
    from urllib.parse import quote

    pem = "-----BEGIN CERTIFICATE-----\n" + base64.b64encode(der).decode() + "\n-----END CERTIFICATE-----\n"
    collector_certificate_add(
        actor=SETUP,
        collector=w.collector_x,
        fingerprint=hashlib.sha256(der).hexdigest(),
        not_after=timezone.now() + dt.timedelta(days=30),
    )
    assert call(client, w.token_x, remote=PROXY, verify="SUCCESS", cert=quote(pem)).status_code == 200
    # the PEM header wins over a fingerprint header that disagrees
    other = call(client, w.token_x, remote=PROXY, verify="SUCCESS", cert=quote(pem), fingerprint=FP_A)
    assert other.status_code == 200


def test_mtls_off_again_takes_the_token_alone(client, mtls_x):
    w = mtls_x
    assert refused(call(client, w.token_x), 401, "MTLS_UNTRUSTED_PROXY")
    site_mtls_set(actor=SETUP, site=w.site_x, required=False)
    assert call(client, w.token_x).status_code == 200


def test_a_wrong_token_is_still_invalid_token_before_any_edge_rule(client, mtls_x):
    assert refused(call(client, "hic_nope"), 401, "INVALID_TOKEN")
