"""The evidence pack's edge security section: the same attestation as `manage.py
security_attestation`, over the pack's period, without the operator's networks or fingerprints."""

import datetime as dt
import hashlib
import json

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor
from hosting.tests.evidence_data import pack_world, unzip
from hosting.tests.test_evidence_pack import extract, request_pack, run_verify
from tenants.edge_security import collector_certificate_add, site_allowlist_set, site_mtls_set

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def test_the_pack_attests_mtls_and_the_allowlist_over_its_period(client, world, noc_x, customer_a, tmp_path):
    pack_world(world, noc_x)
    actor = Actor.system("test")
    site_mtls_set(actor=actor, site=world.site_x, required=True)
    site_allowlist_set(actor=actor, site=world.site_x, networks=["10.77.0.0/16"])
    fingerprint = hashlib.sha256(b"pack cert").hexdigest()
    collector_certificate_add(
        actor=actor, collector=world.collector_x, fingerprint=fingerprint, not_after=timezone.now() + dt.timedelta(90)
    )
    # chains never go back in time: the site's events are at the real clock, so is this period
    now = timezone.now().replace(microsecond=0) + dt.timedelta(seconds=1)
    response = request_pack(
        client, customer_a, start=now - dt.timedelta(hours=1), end=now + dt.timedelta(minutes=10), at=now
    )
    assert response.status_code == 200, response.content[:300]
    data = b"".join(response.streaming_content)
    files = unzip(data)
    text = files["security/attestation.txt"].decode()
    assert "mTLS: off from " in text and "; on from " in text
    enabled = AuditEvent.objects.get(chain_key="site:SITE-X", action="tenants.site_security.mtls_enabled")
    assert f"seq {enabled.seq} " in text and enabled.hash in text
    statement = json.loads(files["security/attestation.json"])
    assert [c["hash"] for c in statement["changes"]][0] == enabled.hash
    assert statement["changes"][1]["state"] == {"mtls_required": True, "allowlist_networks": 1}
    # the site chain stubs place each attested event in the chain
    stubs = {e["seq"]: e["hash"] for e in map(json.loads, files["audit/site_chain.jsonl"].splitlines())}
    assert stubs[enabled.seq] == enabled.hash
    # the operator's networks and certificate fingerprints stay out of a customer's pack
    for body in files.values():
        assert b"10.77.0.0" not in body and fingerprint.encode() not in body
    result = run_verify(extract(data, tmp_path / "pack"))
    assert result.stdout.splitlines()[-1] == "PASS", result.stdout
