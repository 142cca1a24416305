"""Uploads from a collector that calls its site by an alias (switch-over, issue 15): X-Site-ID
and the envelope's site_id may be the code or an alias of the token's site, nothing else."""

import pytest

from audit.services import Actor
from telemetry.models import IngestBatch, TelemetryRaw
from telemetry.tests.ingest_fixtures import CAPTURE_NOW, aliased_site, gz, post, record
from tenants.site_identity import site_alias_add
from tests.factories import SiteFactory

V1 = "/api/edge/v1/telemetry/batch"
LEGACY = "/api/collector/upload"
TS = CAPTURE_NOW.replace(tzinfo=None).isoformat(timespec="microseconds")


def envelope(site_id: str, n: int = 2) -> bytes:
    records = [record(f"S21_{i:04d}", TS) for i in range(1, n + 1)]
    return gz({"schema": "telemetry_envelope.v1", "site_id": site_id, "zone_id": "", "mode": "raw", "records": records})


@pytest.fixture
def aliased(edge):
    """Site coded FARM-ACC-7; the collector is configured with SITE-ACC; another site owns OTHER-1."""
    aliased_site(edge)
    site_alias_add(actor=Actor.system("test"), site=SiteFactory(code="SITE-OTHER"), value="OTHER-1")
    return edge


@pytest.mark.parametrize("path", [LEGACY, V1])
@pytest.mark.parametrize("header", ["SITE-ACC", "FARM-ACC-7"])
def test_an_upload_naming_the_site_by_alias_or_code_is_stored(client, aliased, path, header):
    response = post(client, aliased, gz([record("S21_0001", TS)]), path=path, site_code=header)
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 1
    assert TelemetryRaw.objects.filter(site=aliased.site).count() == 1


@pytest.mark.parametrize("site_id", ["SITE-ACC", "FARM-ACC-7"])
def test_an_envelope_naming_the_site_by_alias_or_code_is_stored(client, aliased, site_id):
    response = post(client, aliased, envelope(site_id), path=V1, site_code="SITE-ACC")
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 2


@pytest.mark.parametrize("value", ["OTHER-1", "SITE-OTHER", "site-acc", "never-registered"])
def test_an_upload_naming_another_or_an_unknown_site_is_403_and_stores_nothing(client, aliased, value):
    by_header = post(client, aliased, gz([record("S21_0001", TS)]), site_code=value)
    by_envelope = post(client, aliased, envelope(value), path=V1, site_code="SITE-ACC")
    for response in (by_header, by_envelope):
        assert response.status_code == 403 and response.json()["error_code"] == "SITE_MISMATCH"
    assert not IngestBatch.objects.exists() and not TelemetryRaw.objects.exists()
