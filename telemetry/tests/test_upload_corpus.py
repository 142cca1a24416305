"""The hand-written hostile corpus of issue 18, on both upload paths (legacy /api/collector/upload
and v1 /api/edge/v1/telemetry/batch): what schemathesis cannot generate (gzip streams, JSON that is
no JSON, numbers JSON Schema has no word for). A whole body that cannot be read is a 4xx with an
error_code and stores nothing; a readable body's bad records are counted rejections with their
reason, stored nowhere, while the good ones beside them are stored."""

import gzip
import json

import pytest

from telemetry.models import IngestBatch, TelemetryLive, TelemetryRaw
from telemetry.tests.ingest_fixtures import CAPTURE_NOW, gz, post, record
from tenants.models import Miner

PATHS = ["/api/collector/upload", "/api/edge/v1/telemetry/batch"]
NOW = CAPTURE_NOW.replace(second=0)
GOOD = record("S21_GOOD", NOW)


def _good_json() -> bytes:
    return json.dumps([GOOD]).encode()


def _with_hashrate(literal: bytes) -> bytes:
    """The good upload with its hashrate written as `literal` (JSON has no NaN, Infinity or 1e400 float)."""
    body = _good_json()
    assert b": 203503.24," in body
    return body.replace(b": 203503.24,", b": " + literal + b",")


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _stored_nothing(edge) -> None:
    assert not TelemetryRaw.objects.filter(site=edge.site).exists()
    assert not TelemetryLive.objects.filter(site=edge.site).exists()
    assert not Miner.objects.filter(site=edge.site).exists()
    assert not IngestBatch.objects.filter(site=edge.site).exists()


WHOLE_BODY = [
    ("gzip-magic-then-garbage", b"\x1f\x8b\x08\x00garbage-not-deflate", 400, "MALFORMED_BODY"),
    ("truncated-gzip", gzip.compress(_good_json())[:-12], 400, "MALFORMED_BODY"),
    ("trailing-bytes-after-gzip", gzip.compress(_good_json()) + b"junk", 400, "MALFORMED_BODY"),
    ("truncated-json", _good_json()[:-7], 400, "MALFORMED_BODY"),
    ("truncated-json-in-gzip", gzip.compress(_good_json()[:-7]), 400, "MALFORMED_BODY"),
    ("nested-10000-deep", _deep(10_000), 400, "MALFORMED_BODY"),
    ("nested-10000-deep-in-gzip", gzip.compress(_deep(10_000)), 400, "MALFORMED_BODY"),
    ("nan-literal", _with_hashrate(b"NaN"), 400, "MALFORMED_BODY"),
    ("infinity-literal", _with_hashrate(b"Infinity"), 400, "MALFORMED_BODY"),
    ("minus-infinity-literal", _with_hashrate(b"-Infinity"), 400, "MALFORMED_BODY"),
    ("number-1e400", _with_hashrate(b"1e400"), 400, "MALFORMED_BODY"),
    ("not-utf8", b'[{"miner_id": "\xff\xfe"}]', 400, "MALFORMED_BODY"),
    ("json-null", gz(None), 400, "INVALID_SHAPE"),
    ("json-number", gz(42), 400, "INVALID_SHAPE"),
    ("json-true", gz(True), 400, "INVALID_SHAPE"),
    (
        "envelope-records-an-object",
        gz({"schema": "telemetry_envelope.v1", "records": {"0": GOOD}}),
        400,
        "INVALID_SHAPE",
    ),
    ("envelope-without-records", gz({"schema": "telemetry_envelope.v1"}), 400, "INVALID_SHAPE"),
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("name", "body", "status", "code"), WHOLE_BODY, ids=[c[0] for c in WHOLE_BODY])
def test_an_unreadable_body_is_a_4xx_with_an_error_code_and_stores_nothing(
    client, edge, path, name, body, status, code
):
    response = post(client, edge, body, path=path)
    assert response.status_code == status, (name, response.content)
    answer = response.json()
    assert (answer["success"], answer["error_code"]) == (False, code), answer
    _stored_nothing(edge)


def test_a_gzip_bomb_on_the_v1_path_is_413_and_worker_memory_is_not_spent(client, edge, settings):
    # 200 MB of JSON whitespace in about 200 kB: refused at the decompression cap, never inflated whole.
    settings.TELEMETRY_MAX_DECOMPRESSED_BYTES = 8 * 1024 * 1024
    compressor = gzip.GzipFile(fileobj=(buffer := __import__("io").BytesIO()), mode="wb")
    compressor.write(b"[")
    chunk = b" " * (1024 * 1024)
    for _ in range(200):
        compressor.write(chunk)
    compressor.write(b"]")
    compressor.close()
    bomb = buffer.getvalue()
    assert len(bomb) < 512 * 1024
    for path in PATHS:
        response = post(client, edge, bomb, path=path)
        assert response.status_code == 413, response.content
        assert response.json()["error_code"] == "PAYLOAD_TOO_LARGE"
    _stored_nothing(edge)


# Records the validator refuses, each beside a good record: counted, with the reason, stored nowhere.
BAD_RECORDS = [
    ("miner-id-a-list", {"miner_id": ["S21"]}, "INVALID_MINER_ID"),
    ("miner-id-an-object", {"miner_id": {"id": 1}}, "INVALID_MINER_ID"),
    ("miner-id-true", {"miner_id": True}, "INVALID_MINER_ID"),
    ("timestamp-year-9999", {"timestamp": "9999-12-31T23:59:59Z"}, "FUTURE_TIMESTAMP"),
    ("timestamp-tomorrow", {"timestamp": "2026-11-25T16:46:00Z"}, "FUTURE_TIMESTAMP"),
    ("timestamp-1970", {"timestamp": "1970-01-01T00:00:00Z"}, "TOO_OLD"),
    ("timestamp-year-1", {"timestamp": "0001-01-01T00:00:00"}, "TOO_OLD"),
    ("timestamp-a-number", {"timestamp": 1e20}, "INVALID_TIMESTAMP"),
    ("timestamp-a-list", {"timestamp": ["2026-11-24"]}, "INVALID_TIMESTAMP"),
    ("timestamp-month-13", {"timestamp": "2026-13-01T00:00:00Z"}, "INVALID_TIMESTAMP"),
    ("hashrate-1e400-as-text", {"hashrate_ghs": "1e400"}, "INVALID_NUMBER"),
    ("hashrate-nan-as-text", {"hashrate_ghs": "NaN"}, "INVALID_NUMBER"),
    ("hashrate-infinity-as-text", {"hashrate_ghs": "-Infinity"}, "INVALID_NUMBER"),
    ("hashrate-an-object", {"hashrate_ghs": {"value": 1}}, "INVALID_NUMBER"),
    ("shares-10e30", {"accepted_shares": 10**30}, "OUT_OF_RANGE"),
    ("online-a-number", {"online": 2}, "INVALID_BOOLEAN"),
    ("fan-speeds-a-string", {"fan_speeds": "fast"}, "INVALID_NUMBER"),
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("name", "change", "code"), BAD_RECORDS, ids=[c[0] for c in BAD_RECORDS])
def test_a_bad_record_is_a_counted_rejection_and_stored_nowhere(client, edge, path, name, change, code):
    bad = {**record("S21_BAD", NOW), **change}
    body = gzip.compress(json.dumps([GOOD, bad]).encode())  # stdlib json: it writes 10**30 too
    response = post(client, edge, body, path=path)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert (answer["received"], answer["accepted"], answer["rejected"]) == (2, 1, 1), answer
    (reason,) = answer["errors"]
    assert (reason["index"], reason["error_code"]) == (1, code), reason
    assert list(TelemetryRaw.objects.filter(site=edge.site).values_list("miner__miner_id", flat=True)) == ["S21_GOOD"]
    assert not Miner.objects.filter(site=edge.site, miner_id="S21_BAD").exists()
    assert IngestBatch.objects.get(pk=answer["batch_id"]).rejected == 1


@pytest.mark.parametrize("path", PATHS)
def test_items_that_are_no_records_are_counted_rejections(client, edge, path):
    response = post(client, edge, gz([GOOD, None, 7, "text", [GOOD]]), path=path)
    answer = response.json()
    assert response.status_code == 200 and (answer["accepted"], answer["rejected"]) == (1, 4), answer
    assert {e["error_code"] for e in answer["errors"]} == {"INVALID_RECORD"}
