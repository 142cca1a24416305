"""What a hostile collector found (issue 18), through the real upload paths: registration of
unknown miners on first sight is capped per upload and per site (the rest rejected with an
error_code, counted on the receipt and in the ingest metrics), and a NUL anywhere in the body is
dropped before it reaches PostgreSQL (200, never a replayed 500)."""

import pytest
from prometheus_client import REGISTRY

from audit.models import AuditEvent
from telemetry.models import IngestBatch, TelemetryRaw
from telemetry.tests.ingest_fixtures import CAPTURE_NOW, gz, post, record
from tenants.models import Miner

NOW = CAPTURE_NOW.replace(second=0)


def rejected_metric() -> float:
    return REGISTRY.get_sample_value("ingest_records_total", {"result": "rejected"}) or 0.0


def phantoms(n: int, prefix: str = "PH") -> list[dict]:
    return [record(f"{prefix}_{i:05d}", NOW) for i in range(n)]


@pytest.mark.parametrize("path", ["/api/collector/upload", "/api/edge/v1/telemetry/batch"])
def test_ten_thousand_unknown_miners_register_only_up_to_the_per_upload_cap(client, edge, settings, path):
    assert (settings.MINER_AUTO_REGISTER_MAX_PER_UPLOAD, settings.MINER_AUTO_REGISTER_MAX_PER_SITE) == (5000, 10000)
    before = rejected_metric()
    r = post(client, edge, gz(phantoms(10_000)), path=path)
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["rejected"] == 5000
    assert {e["error_code"] for e in body["errors"]} == {"MINER_REGISTRATION_LIMIT"}
    assert Miner.objects.filter(site=edge.site).count() == 5000
    batch = IngestBatch.objects.get()
    assert (batch.accepted, batch.rejected, batch.unknown_registered, batch.registration_refused) == (
        5000,
        5000,
        5000,
        5000,
    )
    assert rejected_metric() - before == 5000
    # the refused miners stored nothing: no sample names them
    assert TelemetryRaw.objects.filter(site=edge.site).count() == 5000


def test_the_per_site_cap_counts_every_miner_of_the_site(client, edge, settings):
    settings.MINER_AUTO_REGISTER_MAX_PER_SITE = 30
    settings.MINER_AUTO_REGISTER_MAX_PER_UPLOAD = 20
    first = post(client, edge, gz(phantoms(25, "A"))).json()
    second = post(client, edge, gz(phantoms(25, "B"))).json()
    later = [record(f"A_{i:05d}", NOW.replace(minute=NOW.minute - 1)) for i in range(25)]
    third = post(client, edge, gz(later)).json()  # the known ones still report
    assert (first["rejected"], second["rejected"]) == (5, 15)
    assert third["rejected"] == 5 and third["accepted"] == 20
    assert Miner.objects.filter(site=edge.site).count() == 30
    assert list(IngestBatch.objects.order_by("id").values_list("registration_refused", flat=True)) == [5, 15, 5]
    events = AuditEvent.objects.filter(action="tenants.miner.registered", site_code=edge.site.code)
    assert sum(len(e.payload["miner_ids"]) for e in events) == 30


def test_a_zero_cap_registers_nothing(client, edge, settings):
    settings.MINER_AUTO_REGISTER_MAX_PER_SITE = 0
    body = post(client, edge, gz(phantoms(3))).json()
    assert (body["accepted"], body["rejected"]) == (0, 3)
    assert not Miner.objects.filter(site=edge.site).exists()


@pytest.mark.parametrize("path", ["/api/collector/upload", "/api/edge/v1/telemetry/batch"])
def test_a_nul_anywhere_in_an_upload_is_dropped_and_the_upload_stored(client, edge, path):
    records = [
        record("NUL\u0000_1", NOW, pool_url="stratum\u0000://p", error_message="\u0000", worker_name="w\u0000"),
        record("OK_2", NOW) | {"extra\u0000key": ["\u0000"]},
    ]
    r = post(client, edge, gz(records), path=path)
    assert r.status_code == 200, r.content
    assert (r.json()["accepted"], r.json()["rejected"]) == (2, 0)
    assert sorted(Miner.objects.filter(site=edge.site).values_list("miner_id", flat=True)) == ["NUL_1", "OK_2"]
    stored = TelemetryRaw.objects.filter(site=edge.site, miner__miner_id="NUL_1").get()
    assert (stored.pool_url, stored.error_message, stored.worker_name) == ("stratum://p", "", "w")
