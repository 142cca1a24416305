"""Every telemetry request the field collector really sent (shared/collector_captures), replayed
byte for byte through the real HTTP stack, and what the cloud stored from it."""

import datetime as dt
import gzip
import json
import os
from pathlib import Path

import orjson
import pytest
from django.conf import settings

from audit.models import AuditEvent
from telemetry.models import IngestBatch, Telemetry1m, TelemetryLive, TelemetryRaw
from tenants.models import Miner

CAPTURES = (
    Path(os.environ.get("HASHINSIGHT_SHARED_DIR") or Path(settings.BASE_DIR).parent / "shared") / "collector_captures"
)

# name → (status we answer, endpoint label). 06-auto-v1-404 was a 404 from a legacy-only stand-in;
# we serve v1, so it is stored there and its legacy fallback (same bytes) adds nothing.
TELEMETRY = {
    "01-legacy-upload-raw": (200, "legacy"),
    "02-legacy-upload-latest": (200, "legacy"),
    "03-v1-upload-envelope-raw": (200, "v1"),
    "04-v1-upload-envelope-latest": (200, "v1"),
    "05-auto-upload-bare-list": (200, "v1"),
    "06-auto-v1-404": (200, "v1"),
    "06-auto-fallback-legacy": (200, "legacy"),
    "07-envelope-503": (200, "v1"),  # the stand-in's 503 was injected; we take the batch
    "07-envelope-replayed": (200, "v1"),
    "14-upload-unknown-token": (401, ""),
    "15-legacy-upload-1000-rows": (200, "legacy"),
}
# Command polls and ACKs: the command-queue issue replays these (its tests, not this module).
OUT_OF_SCOPE = {
    "08-v1-poll-empty",
    "08-v1-poll-commands",
    "09-legacy-poll-empty",
    "09-legacy-poll-command",
    "09-legacy-result-completed",
    "10-ack-restart-completed",
    "10-ack-disable-completed",
    "10-ack-set-frequency-completed",
    "10-ack-set-pool-id-completed",
    "10-ack-set-pool-url-completed",
    "10-ack-set-fan-completed",
    "10-ack-enable-completed",
    "11-ack-restart-failed-stock",
    "11-ack-set-frequency-failed-stock",
    "11-ack-disable-failed-stock",
    "12-ack-rejected-expired",
    "12-ack-rejected-site-mismatch",
    "12-ack-failed-not-registered",
    "12-ack-failed-no-target",
    "12-ack-failed-unsupported",
    "12-ack-failed-unknown-command",
    "12-ack-alias-id-action",
    "12-poll-error-commands",
    "13-ack-lost-503",
    "13-poll-redelivered",
    "13-ack-skipped-duplicate",
    "14-poll-unknown-token",
}
UNKNOWN_TOKEN = "hic_this-token-was-never-issued-by-the-cloud"


def capture(name: str) -> tuple[dict, bytes]:
    request = json.loads((CAPTURES / f"{name}.request.json").read_text())
    return request, (CAPTURES / request["body_file"]).read_bytes()


def records_of(body: bytes) -> list[dict]:
    payload = orjson.loads(gzip.decompress(body))
    return payload if isinstance(payload, list) else payload["records"]


def replay(client, name: str, token: str):
    """POST the capture's exact bytes with its exact headers (token placeholder filled in)."""
    request, body = capture(name)
    assert len(body) == request["body_bytes"]
    meta = {}
    for header, value in request["headers"].items():
        value = value.replace("{{COLLECTOR_TOKEN}}", token)
        key = header.upper().replace("-", "_")
        if key in ("HOST", "CONTENT_LENGTH", "CONTENT_TYPE"):
            continue  # the recording's port; the client sets the length from the body itself
        meta[f"HTTP_{key}"] = value
    response = client.generic(
        request["method"], request["path"], data=body, content_type=request["headers"]["Content-Type"], **meta
    )
    return request, response


def test_every_capture_is_replayed_here_or_listed_for_the_command_issue():
    names = {entry["name"] for entry in json.loads((CAPTURES / "index.json").read_text())}
    assert names == TELEMETRY.keys() | OUT_OF_SCOPE
    assert not TELEMETRY.keys() & OUT_OF_SCOPE


@pytest.mark.parametrize("name", [n for n, (status, _) in TELEMETRY.items() if status == 200])
def test_a_telemetry_capture_is_taken_and_stored_once(client, capture_edge, name):
    edge = capture_edge  # also with SITE-ACC only an alias of a site coded otherwise
    request, response = replay(client, name, edge.token)
    records = records_of(capture(name)[1])

    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["success"] is True
    assert (answer["received"], answer["accepted"], answer["rejected"], answer["duplicates"]) == (
        len(records),
        len(records),
        0,
        0,
    )
    assert answer["endpoint"] == TELEMETRY[name][1]
    assert answer["errors"] == []

    batch = IngestBatch.objects.get(pk=answer["batch_id"])
    assert batch.body_sha256 == request["body_sha256"]
    assert (batch.collector, batch.device_id, batch.mode) == (
        edge.collector,
        request["headers"]["X-Device-ID"],
        request["headers"]["X-Upload-Mode"],
    )
    assert TelemetryRaw.objects.filter(site=edge.site, batch_id=batch.pk).count() == len(records)
    assert TelemetryLive.objects.filter(site=edge.site).count() == len({r["miner_id"] for r in records})
    assert sum(Telemetry1m.objects.filter(site=edge.site).values_list("samples", flat=True)) == len(records)
    # The miners were unknown: registered unassigned (operator tenant), one audit event listing them.
    assert Miner.objects.filter(site=edge.site, tenant=edge.operator).count() == len({r["miner_id"] for r in records})
    registered = AuditEvent.objects.filter(action="tenants.miner.registered", site_code=edge.site.code)
    assert [e.payload["count"] for e in registered] == [len(records)]


def _sent_at(name: str) -> dt.datetime:
    """When the collector sent a capture: right after its newest sample (naive UTC)."""
    newest = max(r["timestamp"] for r in records_of(capture(name)[1]))
    return dt.datetime.fromisoformat(newest).replace(tzinfo=dt.UTC) + dt.timedelta(seconds=2)


def test_the_whole_capture_session_replayed_as_it_happened_stores_each_sample_once(client, capture_edge, clock):
    edge = capture_edge
    # In recording order, each at the time it was sent; the spooled envelope comes back ≥ 5 min later.
    session = sorted(TELEMETRY, key=lambda n: (_sent_at(n), list(TELEMETRY).index(n)))
    session.remove("07-envelope-replayed")
    session.append("07-envelope-replayed")
    answers = {}
    for name in session:
        status = TELEMETRY[name][0]
        later = dt.timedelta(minutes=6) if name == "07-envelope-replayed" else dt.timedelta()
        clock.move_to(_sent_at(name.replace("replayed", "503")) + later, tick=False)
        _, response = replay(client, name, UNKNOWN_TOKEN if status == 401 else edge.token)
        assert response.status_code == status, (name, response.content)
        answers[name] = response.json()

    # The auto-mode fallback re-sent the bytes we had already stored from the v1 path.
    assert (answers["06-auto-fallback-legacy"]["accepted"], answers["06-auto-fallback-legacy"]["duplicates"]) == (0, 50)
    # The spooled envelope came back byte-identical: it adds nothing.
    assert (answers["07-envelope-replayed"]["accepted"], answers["07-envelope-replayed"]["duplicates"]) == (0, 50)
    stored = [
        n
        for n, (status, _) in TELEMETRY.items()
        if status == 200 and n not in ("06-auto-fallback-legacy", "07-envelope-replayed")
    ]
    samples = {(r["miner_id"], r["timestamp"]) for n in stored for r in records_of(capture(n)[1])}
    assert TelemetryRaw.objects.filter(site=edge.site).count() == len(samples)
    assert sum(Telemetry1m.objects.filter(site=edge.site).values_list("samples", flat=True)) == len(samples)
    assert IngestBatch.objects.filter(site=edge.site).count() == len(stored) + 2  # every upload leaves a receipt
    # Data that arrived in time corrected no closed bucket, and the replay changed none.
    assert not Telemetry1m.objects.filter(site=edge.site, corrected=True).exists()
    assert not AuditEvent.objects.filter(action="telemetry.bucket.corrected").exists()


def test_the_latest_cycle_keeps_the_pool_the_raw_cycle_reported(client, edge):
    replay(client, "01-legacy-upload-raw", edge.token)  # 16:40:59, pools filled
    replay(client, "02-legacy-upload-latest", edge.token)  # 16:41:04, pool_url ""

    live = TelemetryLive.objects.get(miner__site=edge.site, miner__miner_id="S21_0001")
    assert live.ts.isoformat().startswith("2026-11-24T16:41:0")
    assert live.pool_url == "stratum+tcp://btc.f2pool.com:1314"
    assert live.worker_name == "farm1.s21_0001"


def test_an_upload_with_an_unknown_token_is_refused_and_stores_nothing(client, edge):
    _, response = replay(client, "14-upload-unknown-token", UNKNOWN_TOKEN)

    assert response.status_code == 401
    assert response.json()["error_code"] == "INVALID_TOKEN"
    assert not IngestBatch.objects.exists()
    assert not TelemetryRaw.objects.exists()
    assert not Miner.objects.filter(site=edge.site).exists()
