"""Services of a site's edge security and of collector certificates: every change is one audit
event on the site's chain with the state before and after; bad input is 400 with a field."""

import datetime as dt
import hashlib

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from conftest import SETUP
from core.errors import Conflict, InvalidParameter
from tenants.edge_security import (
    collector_certificate_add,
    collector_certificate_revoke,
    site_allowlist_set,
    site_mtls_set,
)

FP = hashlib.sha256(b"c").hexdigest()


def site_events(world, prefix="tenants.site_security"):
    return list(AuditEvent.objects.filter(chain_key="site:SITE-X", action__startswith=prefix).order_by("seq"))


def test_every_mtls_and_allowlist_toggle_is_one_audit_event_with_before_and_after(world):
    site_mtls_set(actor=SETUP, site=world.site_x, required=True, reason="customer audit")
    site_mtls_set(actor=SETUP, site=world.site_x, required=True)  # no change: no event
    site_allowlist_set(actor=SETUP, site=world.site_x, networks=["10.0.0.0/8", "2001:db8::/32"])
    site_allowlist_set(actor=SETUP, site=world.site_x, networks=[])
    site_mtls_set(actor=SETUP, site=world.site_x, required=False)
    events = site_events(world)
    assert [e.action.rsplit(".", 1)[1] for e in events] == [
        "mtls_enabled",
        "allowlist_changed",
        "allowlist_changed",
        "mtls_disabled",
    ]
    assert events[0].payload == {
        "mtls_required": True,
        "source_networks": [],
        "previous": {"mtls_required": False, "source_networks": []},
        "reason": "customer audit",
    }
    assert events[1].payload["source_networks"] == ["10.0.0.0/8", "2001:db8::/32"]
    assert events[2].payload["previous"]["source_networks"] == ["10.0.0.0/8", "2001:db8::/32"]
    assert all(e.site_code == "SITE-X" and e.tenant_id is None for e in events)


def test_networks_are_normalized_and_deduplicated(world):
    sec = site_allowlist_set(actor=SETUP, site=world.site_x, networks=[" 10.1.2.3/16", "10.1.0.0/16", "192.0.2.7"])
    assert sec.source_networks == ["10.1.0.0/16", "192.0.2.7/32"]


def test_a_bad_cidr_is_invalid_cidr_with_its_position_and_changes_nothing(world):
    with pytest.raises(InvalidParameter) as exc:
        site_allowlist_set(actor=SETUP, site=world.site_x, networks=["10.0.0.0/8", "10.0.0.0/33"])
    assert (exc.value.error_code, exc.value.extra["field"]) == ("INVALID_CIDR", "source_networks[1]")
    assert site_events(world) == []


def test_certificates_added_and_revoked_are_audited(world):
    cert = collector_certificate_add(
        actor=SETUP,
        collector=world.collector_x,
        fingerprint=FP.upper(),
        not_after=timezone.now() + dt.timedelta(days=90),
        note="2027 rotation",
    )
    assert cert.fingerprint_sha256 == FP
    collector_certificate_revoke(actor=SETUP, certificate=cert)
    collector_certificate_revoke(actor=SETUP, certificate=cert)  # already revoked: no second event
    events = site_events(world, "tenants.collector_certificate")
    assert [e.action for e in events] == [
        "tenants.collector_certificate.added",
        "tenants.collector_certificate.revoked",
    ]
    assert events[0].payload["fingerprint_sha256"] == FP
    assert events[1].payload == {"collector": "edge-x", "fingerprint_sha256": FP}


@pytest.mark.parametrize(
    ("fingerprint", "days", "code"),
    [
        ("abc", 30, "INVALID_FINGERPRINT"),
        (hashlib.sha1(b"c").hexdigest(), 30, "INVALID_FINGERPRINT"),
        (FP, -1, "CERTIFICATE_EXPIRED"),
    ],
)
def test_a_bad_certificate_is_refused(world, fingerprint, days, code):
    with pytest.raises(InvalidParameter) as exc:
        collector_certificate_add(
            actor=SETUP,
            collector=world.collector_x,
            fingerprint=fingerprint,
            not_after=timezone.now() + dt.timedelta(days=days),
        )
    assert exc.value.error_code == code


def test_one_certificate_belongs_to_one_collector(world):
    later = timezone.now() + dt.timedelta(days=30)
    collector_certificate_add(actor=SETUP, collector=world.collector_x, fingerprint=FP, not_after=later)
    with pytest.raises(Conflict) as exc:
        collector_certificate_add(actor=SETUP, collector=world.collector_y, fingerprint=FP, not_after=later)
    assert exc.value.error_code == "DUPLICATE"


def test_the_cli_switches_mtls_sets_networks_and_registers_and_revokes_a_certificate(world, tmp_path):
    import io

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID
    from django.core.management import CommandError, call_command

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "edge-x")])
    now = timezone.now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(3)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=100))
        .sign(key, hashes.SHA256())
    )
    pem = tmp_path / "edge-x.crt"
    pem.write_bytes(cert.public_bytes(Encoding.PEM))
    fp = cert.fingerprint(hashes.SHA256()).hex()

    def run(*args):
        out = io.StringIO()
        call_command("edge_security", "--site", "SITE-X", *args, stdout=out)
        return out.getvalue()

    out = run(
        "--mtls", "on", "--networks", "10.0.0.0/8,192.0.2.0/24", "--collector", "edge-x", "--add-certificate", str(pem)
    )
    assert "mTLS on" in out and "10.0.0.0/8, 192.0.2.0/24" in out and f"{fp} edge-x active" in out
    assert f"{fp} edge-x revoked" in run("--revoke-certificate", fp.upper())
    assert "any (allowlist off)" in run("--networks", "")
    with pytest.raises(CommandError, match="INVALID_CIDR"):
        run("--networks", "10.0.0.0/99")
    edge = [e for e in site_events(world, "tenants.") if "site_security" in e.action or "certificate" in e.action]
    assert [e.action.rsplit(".", 1)[1] for e in edge] == [
        "mtls_enabled",
        "allowlist_changed",
        "added",
        "revoked",
        "allowlist_changed",
    ]
