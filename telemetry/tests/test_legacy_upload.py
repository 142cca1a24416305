"""Contract tests: uploads as the field collector sends them (gzip list on /api/collector/upload,
gzip envelope on /api/edge/v1/telemetry/batch and the original's /ingest) answer the original
application's keys beside this project's receipt."""

import datetime as dt

import pytest

from telemetry.models import TelemetryLive
from telemetry.tests.ingest_fixtures import CAPTURE_NOW, SETUP, gz, post, record
from tenants.services import collector_token_create
from tests.factories import CollectorFactory, SiteFactory

pytestmark = pytest.mark.django_db


def test_legacy_upload_answers_inserted_updated_and_data(client, edge):
    earlier = CAPTURE_NOW - dt.timedelta(seconds=60)
    r = post(client, edge, gz([record("S21_0001", earlier), record("S21_0002", earlier)]))
    assert r.status_code == 200
    body = r.json()
    assert (body["success"], body["inserted"], body["updated"]) == (True, 2, 0)
    assert body["data"]["processed"] == 2 and isinstance(body["data"]["processing_time_ms"], int)
    assert set(body["data"]) == {"processed", "inserted", "updated", "online", "offline", "processing_time_ms"}
    assert body["accepted"] == 2  # this project's receipt stays beside it
    again = post(client, edge, gz([record("S21_0001", CAPTURE_NOW)])).json()
    assert (again["inserted"], again["updated"]) == (0, 1)


@pytest.mark.parametrize("path", ["/api/edge/v1/telemetry/batch", "/api/edge/v1/telemetry/ingest"])
def test_v1_paths_answer_the_originals_keys(client, edge, path):
    envelope = {
        "schema": "telemetry_envelope.v1",
        "site_id": edge.site.code,
        "zone_id": "",
        "device_id": edge.device_id,
        "sent_at": "2026-11-22T11:34:02Z",
        "mode": "raw",
        "record_count": 1,
        "source_seq_start": 0,
        "source_seq_end": 0,
        "compression": "gzip",
        "records": [record("S21_0001", CAPTURE_NOW)],
    }
    r = post(client, edge, gz(envelope), path=path)
    assert r.status_code == 200, r.json()
    body = r.json()
    assert (body["success"], body["processed"], body["source"], body["device_id"]) == (True, 1, "v1", edge.device_id)
    assert isinstance(body["site_id"], int) and body["received_at"].endswith("Z")
    assert body["zone_id"] is None and body["warnings"] == []
    assert TelemetryLive.objects.filter(site=edge.site).count() == 1


def test_ingest_refuses_another_sites_token_like_batch(client, edge):
    _, other = collector_token_create(actor=SETUP, collector=CollectorFactory(site=SiteFactory(code="SITE-OTHER")))
    body = gz([record("S21_0001", CAPTURE_NOW)])
    r = post(client, edge, body, path="/api/edge/v1/telemetry/ingest", token=other)
    assert r.status_code == 403
    assert not TelemetryLive.objects.exists()
