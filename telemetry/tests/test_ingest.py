"""Telemetry uploads through the real HTTP stack: what is answered, what is stored, what a replay,
a late sample or a bad record does (SPEC §4.1, §5)."""

import datetime as dt
import gzip
import io
import random
import secrets

import orjson
import pytest
from prometheus_client import REGISTRY

from audit.models import AuditEvent
from audit.services import Actor
from core.wire import PayloadTooLarge, read_body
from telemetry.models import IngestBatch, Telemetry1m, TelemetryLive, TelemetryRaw
from telemetry.tests.ingest_fixtures import CAPTURE_NOW, gz, post, record
from tenants.models import Miner
from tenants.services import collector_token_create, miner_assign_owner, miners_register
from tests.factories import CollectorFactory, SiteFactory, TenantFactory

NOW = CAPTURE_NOW.replace(tzinfo=None)
V1 = "/api/edge/v1/telemetry/batch"


def at(minutes: float) -> dt.datetime:
    """A sample time `minutes` before the pinned clock (naive UTC, as the collector sends it)."""
    return NOW - dt.timedelta(minutes=minutes)


def fleet(n: int, ts: dt.datetime, **fields) -> list[dict]:
    return [record(f"S21_{i:04d}", ts, **fields) for i in range(1, n + 1)]


def upload(client, edge, records, **options) -> dict:
    response = post(client, edge, gz(records), **options)
    assert response.status_code == 200, response.content
    return response.json()


def aggregates(site) -> list[tuple]:
    return list(
        Telemetry1m.objects.filter(site=site)
        .order_by("miner_id", "bucket")
        .values_list(
            "miner_id",
            "bucket",
            "samples",
            "online_samples",
            "hashrate_5s_sum",
            "hashrate_5s_count",
            "hashrate_5s_max",
            "temperature_max_max",
            "temperature_max_sum",
            "first_ts",
            "last_ts",
            "revision",
        )
    )


def counts(answer: dict) -> tuple:
    return answer["received"], answer["accepted"], answer["rejected"], answer["duplicates"]


# --- what is stored ------------------------------------------------------------------------------


def test_an_upload_lands_in_raw_1m_and_live_with_a_receipt(client, edge):
    answer = upload(client, edge, fleet(3, at(5)) + fleet(3, at(4.5)), mode="raw")

    assert answer["success"] is True and answer["endpoint"] == "legacy"
    assert counts(answer) == (6, 6, 0, 0)
    assert TelemetryRaw.objects.filter(site=edge.site).count() == 6
    bucket = Telemetry1m.objects.get(site=edge.site, miner__miner_id="S21_0001")
    assert (bucket.samples, bucket.online_samples, bucket.hashrate_5s_count, bucket.hashrate_5s_max) == (
        2,
        2,
        2,
        203988.4,
    )
    assert bucket.hashrate_5s_sum == pytest.approx(2 * 203988.4)
    assert bucket.temperature_max_max == 64.0 and (bucket.revision, bucket.corrected) == (0, False)
    live = TelemetryLive.objects.get(miner__miner_id="S21_0001")
    assert live.ts == CAPTURE_NOW - dt.timedelta(minutes=4.5)
    assert (live.fan_speeds, live.temperature_chips[:2]) == ([4, 3500, 3544, 3545, 3540], [3.0, 48.0])
    batch = IngestBatch.objects.get(pk=answer["batch_id"])
    assert (batch.record_count, batch.accepted, batch.rejected, batch.duplicates, batch.unknown_registered) == (
        6,
        6,
        0,
        0,
        3,
    )
    assert (batch.endpoint, batch.mode, batch.body_format) == ("legacy", "raw", "list")
    assert batch.token_prefix and edge.token.startswith(batch.token_prefix)
    assert (batch.sample_from, batch.sample_to) == (
        CAPTURE_NOW - dt.timedelta(minutes=5),
        CAPTURE_NOW - dt.timedelta(minutes=4.5),
    )
    assert TelemetryRaw.objects.filter(batch_id=batch.pk, device_id=edge.device_id, mode="raw").count() == 6


@pytest.mark.parametrize(
    "path, endpoint", [("/api/collector/upload", "legacy"), ("/api/collector/telemetry", "legacy"), (V1, "v1")]
)
def test_every_ingest_path_takes_a_bare_list_and_an_envelope(client, edge, path, endpoint):
    envelope = {
        "schema": "telemetry_envelope.v1",
        "site_id": "SITE-ACC",
        "zone_id": "",
        "device_id": edge.device_id,
        "sent_at": "2026-11-24T16:45:00Z",
        "mode": "raw",
        "record_count": 2,
        "source_seq_start": 0,
        "source_seq_end": 0,
        "compression": "gzip",
        "records": fleet(2, at(3)),
        "something_new": {"ignored": True},
    }
    first = post(client, edge, gz(fleet(2, at(4))), path=path).json()
    second = post(client, edge, gz(envelope), path=path).json()

    assert (first["endpoint"], counts(first)) == (endpoint, (2, 2, 0, 0))
    assert (second["endpoint"], counts(second)) == (endpoint, (2, 2, 0, 0))
    assert IngestBatch.objects.get(pk=second["batch_id"]).body_format == "envelope"


def test_a_plain_json_body_without_gzip_is_taken_whatever_the_headers_say(client, edge):
    answer = post(client, edge, orjson.dumps(fleet(2, at(2)))).json()  # Content-Encoding: gzip, body not gzip
    assert counts(answer) == (2, 2, 0, 0)


# --- replays ---------------------------------------------------------------------------------------


def test_a_batch_replayed_many_times_adds_no_rows_and_moves_no_aggregate(client, edge):
    body = gz(fleet(20, at(6)) + fleet(20, at(5.5)) + fleet(20, at(5)))
    first = post(client, edge, body).json()
    raw, agg, live = (
        TelemetryRaw.objects.filter(site=edge.site).count(),
        aggregates(edge.site),
        list(TelemetryLive.objects.order_by("pk").values()),
    )

    replays = [post(client, edge, body).json() for _ in range(4)]

    assert counts(first) == (60, 60, 0, 0)
    assert [counts(r) for r in replays] == [(60, 0, 0, 60)] * 4
    assert (TelemetryRaw.objects.filter(site=edge.site).count(), aggregates(edge.site)) == (raw, agg)
    assert list(TelemetryLive.objects.order_by("pk").values()) == live
    assert IngestBatch.objects.filter(site=edge.site).count() == 5  # every upload leaves its receipt


def test_shuffled_overlapping_replays_store_exactly_the_union(client, edge):
    samples = [record(f"S21_{m:04d}", at(20 - k * 0.5)) for m in range(1, 9) for k in range(30)]
    rng = random.Random(7)
    for _ in range(8):  # overlapping random slices, each shuffled, some records doubled inside a batch
        chunk = rng.sample(samples, 70)
        chunk += chunk[:5]
        rng.shuffle(chunk)
        upload(client, edge, chunk)
    upload(client, edge, samples)  # whatever was missed

    assert TelemetryRaw.objects.filter(site=edge.site).count() == len(samples)
    rows = Telemetry1m.objects.filter(site=edge.site)
    assert sum(r.samples for r in rows) == len(samples)
    for r in rows:  # each bucket's aggregates equal a recomputation from its raw samples
        raw = TelemetryRaw.objects.filter(
            site=edge.site, miner_id=r.miner_id, ts__gte=r.bucket, ts__lt=r.bucket + dt.timedelta(minutes=1)
        )
        assert r.samples == raw.count() and r.hashrate_5s_sum == pytest.approx(sum(x.hashrate_5s_ghs for x in raw))
        assert (r.first_ts, r.last_ts) == (min(x.ts for x in raw), max(x.ts for x in raw))
    newest = TelemetryLive.objects.get(miner__miner_id="S21_0001").ts
    assert newest == CAPTURE_NOW - dt.timedelta(minutes=20 - 29 * 0.5)


def test_duplicates_inside_one_upload_are_stored_once_and_counted(client, edge):
    same = record("S21_0001", at(3))
    answer = upload(client, edge, [same, dict(same), record("S21_0001", "2026-11-24T16:43:00Z")])

    assert counts(answer) == (3, 1, 0, 2)  # the Z form names the same instant
    assert TelemetryRaw.objects.filter(site=edge.site).count() == 1


# --- out of order and late data ------------------------------------------------------------------


def test_an_older_sample_after_a_newer_one_leaves_live_alone_but_fills_raw_and_1m(client, edge):
    upload(client, edge, [record("S21_0001", at(1), hashrate_5s_ghs=100.0, pool_url="stratum+tcp://new:3333")])
    upload(client, edge, [record("S21_0001", at(1.5), hashrate_5s_ghs=50.0, pool_url="stratum+tcp://old:3333")])

    live = TelemetryLive.objects.get(miner__miner_id="S21_0001")
    assert (live.ts, live.hashrate_5s_ghs, live.pool_url) == (
        CAPTURE_NOW - dt.timedelta(minutes=1),
        100.0,
        "stratum+tcp://new:3333",
    )
    assert TelemetryRaw.objects.filter(site=edge.site).count() == 2
    assert sum(Telemetry1m.objects.filter(site=edge.site).values_list("samples", flat=True)) == 2


def test_late_data_in_a_closed_bucket_corrects_it_with_one_audit_event_per_upload(client, edge, clock):
    # 16:30 and 16:31 buckets filled in time, for two miners.
    clock.move_to(CAPTURE_NOW.replace(minute=31, second=30), tick=False)
    upload(client, edge, [record(m, "2026-11-24T16:30:10", hashrate_5s_ghs=100.0) for m in ("S21_0001", "S21_0002")])
    upload(client, edge, [record(m, "2026-11-24T16:31:10", hashrate_5s_ghs=100.0) for m in ("S21_0001", "S21_0002")])
    assert not Telemetry1m.objects.filter(site=edge.site, corrected=True).exists()

    # 16:46: a spooled replay brings samples for both closed buckets, and one for an open one.
    clock.move_to(CAPTURE_NOW, tick=False)
    late = [
        record(m, f"2026-11-24T16:3{b}:40", hashrate_5s_ghs=300.0) for m in ("S21_0001", "S21_0002") for b in (0, 1)
    ]
    answer = upload(client, edge, late + [record("S21_0001", "2026-11-24T16:45:00")])
    again = upload(client, edge, late)  # the same late data once more: nothing to correct

    assert counts(answer) == (5, 5, 0, 0) and counts(again) == (4, 0, 0, 4)
    closed = Telemetry1m.objects.filter(site=edge.site, bucket__lt=dt.datetime(2026, 11, 24, 16, 40, tzinfo=dt.UTC))
    assert [(b.samples, b.revision, b.corrected, b.hashrate_5s_sum) for b in closed] == [(2, 1, True, 400.0)] * 4
    assert (
        Telemetry1m.objects.get(site=edge.site, bucket=dt.datetime(2026, 11, 24, 16, 45, tzinfo=dt.UTC)).corrected
        is False
    )
    events = list(AuditEvent.objects.filter(action="telemetry.bucket.corrected"))
    assert len(events) == 1
    assert events[0].chain_key == f"tenant:{edge.operator.pk}" and events[0].entity_id == str(answer["batch_id"])
    assert events[0].payload["count"] == 4
    # The live row never went back in time: the late samples are older than 16:45.
    assert TelemetryLive.objects.get(miner__miner_id="S21_0001").ts == dt.datetime(2026, 11, 24, 16, 45, tzinfo=dt.UTC)


def test_a_correction_touching_two_customers_writes_one_event_in_each_chain(client, edge, clock):
    tenant_a, tenant_b = TenantFactory(), TenantFactory()
    clock.move_to(CAPTURE_NOW.replace(minute=20), tick=False)
    for tenant, miner_id in ((tenant_a, "A-1"), (tenant_b, "B-1")):
        miners_register(actor=Actor.system("test"), site=edge.site, tenant=tenant, rows=[{"miner_id": miner_id}])
    upload(client, edge, [record(m, "2026-11-24T16:20:05") for m in ("A-1", "B-1")])
    clock.move_to(CAPTURE_NOW, tick=False)
    upload(client, edge, [record(m, "2026-11-24T16:20:35") for m in ("A-1", "B-1")])

    events = AuditEvent.objects.filter(action="telemetry.bucket.corrected").order_by("chain_key")
    assert sorted(e.chain_key for e in events) == sorted([f"tenant:{tenant_a.pk}", f"tenant:{tenant_b.pk}"])
    assert all(len(e.payload["buckets"]) == 1 for e in events)


# --- validation -----------------------------------------------------------------------------------

BAD = [
    ({"miner_id": None}, "MISSING_FIELD", "miner_id"),
    ({"miner_id": ""}, "INVALID_MINER_ID", "miner_id"),
    ({"miner_id": "x" * 129}, "INVALID_MINER_ID", "miner_id"),
    ({"miner_id": 17}, "INVALID_MINER_ID", "miner_id"),
    ({"timestamp": None}, "MISSING_FIELD", "timestamp"),
    ({"online": None}, "MISSING_FIELD", "online"),
    ({"online": "maybe"}, "INVALID_BOOLEAN", "online"),
    ({"timestamp": "yesterday"}, "INVALID_TIMESTAMP", "timestamp"),
    ({"timestamp": 1764000000}, "INVALID_TIMESTAMP", "timestamp"),
    ({"timestamp": "2026-11-24T16:51:01"}, "FUTURE_TIMESTAMP", "timestamp"),
    ({"timestamp": "2026-11-21T16:45:59"}, "TOO_OLD", "timestamp"),
    ({"hashrate_ghs": "fast"}, "INVALID_NUMBER", "hashrate_ghs"),
    ({"hashrate_5s_ghs": True}, "INVALID_NUMBER", "hashrate_5s_ghs"),
    ({"frequency_avg": "nan"}, "INVALID_NUMBER", "frequency_avg"),
    ({"fan_speeds": [4, "loud"]}, "INVALID_NUMBER", "fan_speeds"),
    ({"fan_speeds": [4, 2**40]}, "OUT_OF_RANGE", "fan_speeds"),
    ({"temperature_chips": [60.5, "hot"]}, "INVALID_NUMBER", "temperature_chips"),
    ({"accepted_shares": "many"}, "INVALID_NUMBER", "accepted_shares"),
    ({"accepted_shares": str(2**64)}, "OUT_OF_RANGE", "accepted_shares"),
    ({"hashrate_5s_ghs": -1}, "OUT_OF_RANGE", "hashrate_5s_ghs"),
    ({"hashrate_ghs": "-0.5"}, "OUT_OF_RANGE", "hashrate_ghs"),
    ({"temperature_max": 151}, "OUT_OF_RANGE", "temperature_max"),
    ({"temperature_avg": -41}, "OUT_OF_RANGE", "temperature_avg"),
]


@pytest.mark.parametrize("change, code, field", BAD, ids=[f"{c}-{f}" for _, c, f in BAD])
def test_a_bad_record_is_rejected_with_its_reason_while_the_good_ones_are_stored(client, edge, change, code, field):
    bad = record("S21_0009", at(2), **change)
    answer = upload(client, edge, [record("S21_0001", at(2)), bad, record("S21_0002", at(2))])

    assert answer["success"] is True and counts(answer) == (3, 2, 1, 0)
    (reason,) = answer["errors"]
    assert (reason["index"], reason["error_code"], reason["field"]) == (1, code, field)
    assert reason["message"]
    assert set(TelemetryRaw.objects.filter(site=edge.site).values_list("miner__miner_id", flat=True)) == {
        "S21_0001",
        "S21_0002",
    }
    assert IngestBatch.objects.get(pk=answer["batch_id"]).first_reasons == answer["errors"]


def test_an_upload_of_only_bad_records_still_answers_200_with_the_first_20_reasons(client, edge):
    answer = upload(client, edge, [record(f"S21_{i:04d}", "not a time") for i in range(30)] + ["not a record"])

    assert answer["success"] is True and counts(answer) == (31, 0, 31, 0)
    assert len(answer["errors"]) == 20 and answer["errors"][0]["error_code"] == "INVALID_TIMESTAMP"
    assert (
        not TelemetryRaw.objects.filter(site=edge.site).exists() and not Miner.objects.filter(site=edge.site).exists()
    )


def test_numbers_sent_as_strings_are_parsed_and_optional_fields_may_be_missing(client, edge):
    stringy = record(
        "S21_0001",
        at(2),
        hashrate_ghs="203503.24",
        hashrate_5s_ghs=" 204000.5",
        temperature_max="66",
        accepted_shares="1813741",
        uptime_seconds="12.0",
        fan_speeds=["4", 3500.0],
        online="true",
        error_message="bad\x00byte",
        temperature_chips=[3, "61.5"],
    )
    minimal = {"miner_id": "S21_0002", "timestamp": at(2).isoformat(), "online": "false"}
    answer = upload(client, edge, [stringy, minimal])

    assert counts(answer) == (2, 2, 0, 0)
    one = TelemetryRaw.objects.get(site=edge.site, miner__miner_id="S21_0001")
    assert (one.hashrate_ghs, one.hashrate_5s_ghs, one.temperature_max, one.accepted_shares, one.uptime_seconds) == (
        203503.24,
        204000.5,
        66.0,
        1813741,
        12,
    )
    assert one.online is True and one.fan_speeds == [4, 3500] and one.temperature_chips == [3.0, 61.5]
    assert one.error_message == "badbyte"  # PostgreSQL text holds no NUL
    two = TelemetryRaw.objects.get(site=edge.site, miner__miner_id="S21_0002")
    assert (two.online, two.hashrate_5s_ghs, two.fan_speeds, two.pool_url) == (False, None, [], "")
    offline_bucket = Telemetry1m.objects.get(site=edge.site, miner__miner_id="S21_0002")
    assert (offline_bucket.samples, offline_bucket.online_samples, offline_bucket.hashrate_5s_count) == (1, 0, 0)


def test_timestamps_with_a_zone_are_converted_to_utc(client, edge):
    upload(client, edge, [record("S21_0001", "2026-11-24T17:40:00+01:00"), record("S21_0002", "2026-11-24T16:40:00")])
    assert set(TelemetryRaw.objects.filter(site=edge.site).values_list("ts", flat=True)) == {
        dt.datetime(2026, 11, 24, 16, 40, tzinfo=dt.UTC)
    }


# --- whole-request refusals -----------------------------------------------------------------------


def _refused(response, status: int, code: str, edge):
    assert response.status_code == status, response.content
    assert response.json()["error_code"] == code and response.json()["success"] is False
    assert (
        not IngestBatch.objects.filter(site=edge.site).exists()
        and not TelemetryRaw.objects.filter(site=edge.site).exists()
    )


def test_a_gzip_bomb_is_refused_with_413(client, edge, settings):
    settings.TELEMETRY_MAX_DECOMPRESSED_BYTES = 1024 * 1024
    bomb = gzip.compress(b"[" + b" " * (50 * 1024 * 1024) + b"]")  # 50 MiB of JSON in ~50 kB
    assert len(bomb) < 100 * 1024
    _refused(post(client, edge, bomb), 413, "PAYLOAD_TOO_LARGE", edge)


def test_a_body_over_the_size_cap_is_refused_with_413_before_it_is_read(client, edge, settings):
    settings.TELEMETRY_MAX_BODY_BYTES = 4096
    body = gz([record(f"S21_{i:04d}", at(1), error_message=secrets.token_hex(40)) for i in range(200)])
    assert len(body) > 4096
    _refused(post(client, edge, body), 413, "PAYLOAD_TOO_LARGE", edge)


def test_a_body_without_content_length_is_capped_while_it_is_read():
    class Request:
        META = {}
        read = io.BytesIO(b"x" * 10_000).read

    with pytest.raises(PayloadTooLarge):
        read_body(Request(), max_bytes=4096)


@pytest.mark.parametrize(
    "body, code",
    [
        (b"this is not json", "MALFORMED_BODY"),
        (b"", "MALFORMED_BODY"),
        (gzip.compress(b"[1, 2")[:-6], "MALFORMED_BODY"),  # truncated gzip
        (gzip.compress(b"{not json}"), "MALFORMED_BODY"),
        (gz({"records": "nope"}), "INVALID_SHAPE"),
        (gz({"schema": "telemetry_envelope.v9", "records": []}), "INVALID_SHAPE"),
        (gz("a string"), "INVALID_SHAPE"),
        (
            gz({"schema": "telemetry_envelope.v1", "payload_enc": {"v": 1, "alg": "AES-256-GCM"}}),
            "PAYLOAD_ENC_INVALID",  # no nonce or ciphertext: test_payload_enc.py has the rest
        ),
    ],
    ids=[
        "not-json",
        "empty",
        "truncated-gzip",
        "gzip-not-json",
        "records-not-list",
        "unknown-schema",
        "scalar",
        "encrypted-without-ciphertext",
    ],
)
def test_a_body_that_is_not_gzip_json_of_the_right_shape_is_refused_with_400(client, edge, body, code):
    _refused(post(client, edge, body, path=V1), 400, code, edge)


def test_an_unknown_token_gets_401(client, edge):
    _refused(post(client, edge, gz(fleet(1, at(1))), token="hic_nobody-issued-this"), 401, "INVALID_TOKEN", edge)


def test_no_token_gets_401(client, edge):
    _refused(
        client.post(V1, data=gz(fleet(1, at(1))), content_type="application/octet-stream"), 401, "UNAUTHENTICATED", edge
    )


def test_a_token_of_another_site_gets_403(client, edge):
    other = CollectorFactory(site=SiteFactory(code="SITE-OTHER"))
    _, token = collector_token_create(actor=Actor.system("test"), collector=other)
    _refused(post(client, edge, gz(fleet(1, at(1))), token=token), 403, "SITE_MISMATCH", edge)


def test_an_envelope_naming_another_site_gets_403(client, edge):
    body = gz({"schema": "telemetry_envelope.v1", "site_id": "SITE-OTHER", "records": fleet(1, at(1))})
    _refused(post(client, edge, body, path=V1), 403, "SITE_MISMATCH", edge)


# --- inventory and ownership ---------------------------------------------------------------------


def test_an_unknown_miner_is_registered_once_unassigned_with_one_audit_event(client, edge):
    first = upload(client, edge, fleet(3, at(3)))
    second = upload(client, edge, fleet(4, at(2)))

    miners = Miner.objects.filter(site=edge.site).order_by("miner_id")
    assert [(m.miner_id, m.tenant_id, m.miner_key) for m in miners] == [
        (f"S21_{i:04d}", edge.operator.pk, "buvumexjv6t3c7eq3x4226pa7y") for i in range(1, 5)
    ]
    events = list(AuditEvent.objects.filter(action="tenants.miner.registered", site_code=edge.site.code).order_by("id"))
    assert [e.payload["miner_ids"] for e in events] == [["S21_0001", "S21_0002", "S21_0003"], ["S21_0004"]]
    assert events[0].actor_type == "collector"
    assert (
        IngestBatch.objects.get(pk=first["batch_id"]).unknown_registered,
        IngestBatch.objects.get(pk=second["batch_id"]).unknown_registered,
    ) == (3, 1)


def test_samples_around_an_ownership_change_belong_to_the_owner_at_sample_time(client, edge, clock):
    tenant_a, tenant_b = TenantFactory(), TenantFactory()
    clock.move_to(CAPTURE_NOW.replace(minute=0), tick=False)
    miners_register(actor=Actor.system("test"), site=edge.site, tenant=tenant_a, rows=[{"miner_id": "S21_0001"}])
    miner = Miner.objects.get(site=edge.site, miner_id="S21_0001")
    miner_assign_owner(actor=Actor.system("test"), miners=[miner], tenant=tenant_b, at=CAPTURE_NOW.replace(minute=20))
    clock.move_to(CAPTURE_NOW, tick=False)

    upload(client, edge, [record("S21_0001", f"2026-11-24T16:{m:02d}:00") for m in (10, 15, 25, 30)])

    raw = dict(TelemetryRaw.objects.filter(site=edge.site).values_list("ts__minute", "tenant_id"))
    assert raw == {10: tenant_a.pk, 15: tenant_a.pk, 25: tenant_b.pk, 30: tenant_b.pk}
    assert dict(Telemetry1m.objects.filter(site=edge.site).values_list("bucket__minute", "tenant_id")) == raw
    assert TelemetryLive.objects.get(miner=miner).tenant_id == tenant_b.pk


# --- metrics --------------------------------------------------------------------------------------


def _sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_ingest_counts_records_requests_and_lag_in_metrics(client, edge):
    before = {r: _sample("ingest_records_total", result=r) for r in ("accepted", "rejected", "duplicate")}
    ok, refused = (
        _sample("ingest_requests_total", endpoint="v1", status="200"),
        _sample("ingest_requests_total", endpoint="v1", status="401"),
    )
    latency = _sample("ingest_latency_seconds_count", endpoint="v1")

    body = gz(fleet(2, at(1.5)) + [record("S21_0003", "bad")])
    post(client, edge, body, path=V1)
    post(client, edge, body, path=V1)
    post(client, edge, body, path=V1, token="hic_nobody")

    assert _sample("ingest_records_total", result="accepted") - before["accepted"] == 2
    assert _sample("ingest_records_total", result="rejected") - before["rejected"] == 2
    assert _sample("ingest_records_total", result="duplicate") - before["duplicate"] == 2
    assert _sample("ingest_requests_total", endpoint="v1", status="200") - ok == 2
    assert _sample("ingest_requests_total", endpoint="v1", status="401") - refused == 1
    assert _sample("ingest_latency_seconds_count", endpoint="v1") - latency == 3
    assert _sample("telemetry_ingest_lag_seconds", site="SITE-ACC") == 90.0


def test_text_and_numbers_reach_every_tier_exactly_as_sent(client, edge):
    # The rows travel to PostgreSQL as COPY text: tabs, newlines, backslashes and braces in text,
    # float precision, nulls and empty arrays must all come back unchanged.
    odd = record(
        "S21_0001",
        at(5),
        pool_url="stratum+tcp://pool\\x:3333\tbackup",
        worker_name='farm1.{w}\n"q"',
        error_message="line1\r\nline2 \\N",
        hashrate_5s_ghs=0.1 + 0.2,
        temperature_avg=None,
        fan_speeds=[],
        temperature_chips=[1e-7, 64, 63.25],
        accepted_shares=2**62,
        uptime_seconds=None,
    )
    answer = upload(client, edge, [odd], mode="raw")

    assert counts(answer) == (1, 1, 0, 0)
    raw = TelemetryRaw.objects.get(site=edge.site)
    live = TelemetryLive.objects.get(miner__miner_id="S21_0001")
    for row in (raw, live):
        assert (row.pool_url, row.worker_name, row.error_message) == (
            odd["pool_url"],
            odd["worker_name"],
            odd["error_message"],
        )
        assert row.hashrate_5s_ghs == 0.1 + 0.2 and row.temperature_avg is None and row.uptime_seconds is None
        assert (row.fan_speeds, row.temperature_chips, row.accepted_shares) == ([], [1e-7, 64.0, 63.25], 2**62)
    assert Telemetry1m.objects.get(site=edge.site).hashrate_5s_sum == 0.1 + 0.2


def test_the_fast_validation_path_gives_the_same_row_as_the_full_one_or_defers_to_it():
    # validate_records tries a one-pass check first and falls back to validate_record; whenever
    # the fast path answers, its row must be the full path's row, value for value and type for type.
    from telemetry.ingest import validate

    now = CAPTURE_NOW
    not_before, not_after = now - dt.timedelta(days=3), now + dt.timedelta(seconds=300)
    odd_values = [
        None,
        True,
        False,
        0,
        1,
        -1,
        1.5,
        -0.0,
        float("nan"),
        float("inf"),
        "12",
        " 3.5 ",
        "x",
        "",
        [],
        [1, 2],
        [1.5, float("nan")],
        {},
        2**63,
        2**31,
        10**30,
        151,
        150.0,
        -40,
        -40.1,
        "a\x00",
        "2026-11-24T16:40:00Z",
        "2026-11-24T16:40:00+02:00",
        " 2026-11-24T16:40:00",
        "2026-11-24",
        "2026-11-20T16:40:00",
        "2026-11-24T16:52:00",
    ]
    names = list(record("S21_0001", at(1)))
    rnd = random.Random(7)
    fast_answers = 0
    for n in range(4000):
        rec = record(f"S21_{n % 50:04d}", at(rnd.uniform(0, 30)))
        for _ in range(rnd.randint(0, 2)):
            name = rnd.choice(names)
            if rnd.random() < 0.1:
                rec.pop(name, None)
            elif name in ("fan_speeds", "temperature_chips") and rnd.random() < 0.5:
                rec[name] = [
                    rnd.choice(odd_values) if rnd.random() < 0.3 else rnd.randint(0, 100)
                    for _ in range(rnd.randint(0, 4))
                ]
            else:
                rec[name] = rnd.choice(odd_values)
        fast = validate._fast_row(rec, not_before, not_after)
        try:
            full = validate.validate_record(rec, not_before=not_before, not_after=not_after)
        except validate.RecordError:
            full = None
        if fast is not None:
            fast_answers += 1
            assert full is not None, rec
            assert fast == full and [type(v) for v in fast.values()] == [type(v) for v in full.values()], rec
    assert 1000 < fast_answers < 4000  # both paths were exercised
