"""The edge security admins: mTLS, the allowlist and certificates changed through the services
(audited), scoped to the operator's sites, with MANAGE_TOKENS."""

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from audit.models import AuditEvent
from tenants.models import CollectorCertificate, SiteEdgeSecurity


def url(model, action="add", *args):
    return reverse(f"admin:tenants_{model}_{action}", args=args)


def actions(prefix):
    return list(AuditEvent.objects.filter(action__startswith=prefix).order_by("seq").values_list("action", flat=True))


def a_certificate() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edge-x")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=200))
        .sign(key, hashes.SHA256())
    )


def test_an_ops_manager_switches_mtls_and_sets_networks_and_each_change_is_audited(as_user, world, ops_manager_x):
    client = as_user(ops_manager_x)
    response = client.post(
        url("siteedgesecurity"),
        {
            "site": world.site_x.pk,
            "mtls_required": "on",
            "source_networks": "10.0.0.0/8\n2001:db8::/32",
            "reason": "VPN",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    sec = SiteEdgeSecurity.objects.get(site=world.site_x)
    assert (sec.mtls_required, sec.source_networks) == (True, ["10.0.0.0/8", "2001:db8::/32"])
    response = client.post(url("siteedgesecurity", "change", sec.pk), {"source_networks": ""})
    assert response.status_code == 302
    assert actions("tenants.site_security") == [
        "tenants.site_security.mtls_enabled",
        "tenants.site_security.allowlist_changed",
        "tenants.site_security.mtls_disabled",
        "tenants.site_security.allowlist_changed",
    ]


def test_a_bad_network_is_a_form_error_and_changes_nothing(as_user, world, ops_manager_x):
    response = as_user(ops_manager_x).post(
        url("siteedgesecurity"), {"site": world.site_x.pk, "source_networks": "10.0.0.300/8"}
    )
    assert response.status_code == 200 and b"INVALID_CIDR" in response.content
    assert not SiteEdgeSecurity.objects.exists() and actions("tenants.site_security") == []


def test_another_sites_security_is_out_of_reach(as_user, world, ops_manager_x):
    client = as_user(ops_manager_x)
    response = client.post(url("siteedgesecurity"), {"site": world.site_y.pk, "mtls_required": "on"})
    assert response.status_code == 200 and not SiteEdgeSecurity.objects.exists()  # not a choice
    other = SiteEdgeSecurity.objects.create(site=world.site_y)
    assert client.get(url("siteedgesecurity", "change", other.pk)).status_code == 403


def test_a_noc_without_manage_tokens_may_look_but_not_switch(as_user, world, noc_x):
    client = as_user(noc_x)
    assert client.post(url("siteedgesecurity"), {"site": world.site_x.pk, "mtls_required": "on"}).status_code == 403


def test_a_certificate_is_registered_from_its_pem_and_revoked_by_the_action(as_user, world, ops_manager_x):
    cert = a_certificate()
    client = as_user(ops_manager_x)
    response = client.post(
        url("collectorcertificate"),
        {"collector": world.collector_x.pk, "pem": cert.public_bytes(Encoding.PEM).decode(), "note": "2027"},
    )
    assert response.status_code == 302, response.content[:2000]
    saved = CollectorCertificate.objects.get()
    assert saved.fingerprint_sha256 == cert.fingerprint(hashes.SHA256()).hex()
    assert saved.not_after == cert.not_valid_after_utc
    response = client.post(
        url("collectorcertificate", "changelist"), {"action": "revoke", ACTION_CHECKBOX_NAME: [saved.pk]}
    )
    assert response.status_code == 302
    saved.refresh_from_db()
    assert saved.revoked_at is not None and saved.revoked_by == ops_manager_x
    assert actions("tenants.collector_certificate") == [
        "tenants.collector_certificate.added",
        "tenants.collector_certificate.revoked",
    ]


def test_a_certificate_by_fingerprint_needs_its_not_after(as_user, world, ops_manager_x):
    fp = ":".join(["AB"] * 32)
    client = as_user(ops_manager_x)
    response = client.post(url("collectorcertificate"), {"collector": world.collector_x.pk, "fingerprint_sha256": fp})
    assert response.status_code == 200 and not CollectorCertificate.objects.exists()
    response = client.post(
        url("collectorcertificate"),
        {
            "collector": world.collector_x.pk,
            "fingerprint_sha256": fp,
            "not_after_0": "2099-01-01",
            "not_after_1": "00:00",
        },
    )
    assert response.status_code == 302, response.content[:3000]
    assert CollectorCertificate.objects.get().fingerprint_sha256 == "ab" * 32
